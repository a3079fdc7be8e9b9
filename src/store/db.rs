//! The two SQL backends behind one small API: rusqlite for project files, the sync `postgres`
//! client for team projects. Store modules write their SQL once, in the dialect both engines
//! share (`?N` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, `IS NOT DISTINCT FROM`),
//! and read columns through [`Row::get`]. Placeholders are rewritten to `$N` for PostgreSQL and
//! statements are prepared once per connection on both.
//!
//! Values cross the boundary as [`Value`] (the SQLite storage classes). For PostgreSQL the
//! conversion follows the type the server inferred for each parameter or column, so an `i64`
//! can fill a `BIGINT`, `INTEGER` or `DOUBLE PRECISION` parameter and `SUM(bigint)` (a
//! `NUMERIC`) reads back as a number.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::{FromSql, IsNull, ToSql, Type};

use super::{Result, StoreError};

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A value of a parameter or a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// Something that can be a statement parameter.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_value!(i64, i32, i16, u32, u16, u8, usize, u64);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Real(*self as f64)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// Something a column can be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

fn mismatch<T>(want: &str, v: &Value) -> std::result::Result<T, String> {
    Err(format!("expected {want}, found {}", v.kind()))
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Real(f) if f.fract() == 0.0 => Ok(*f as i64),
            _ => mismatch("an integer", v),
        }
    }
}
macro_rules! narrow_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("integer {i} out of range"))
            }
        }
    )*};
}
narrow_from_value!(i32, u32, usize, u64);

impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => mismatch("a number", v),
        }
    }
}
impl FromValue for f32 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        f64::from_value(v).map(|f| f as f32)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => mismatch("text", v),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => mismatch("a blob", v),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(v.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` (0-based) as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| StoreError::Invalid(format!("no column {i} in the result")))?;
        T::from_value(v).map_err(|e| StoreError::Invalid(format!("column {i}: {e}")))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub type Params<'a> = &'a [&'a dyn ToValue];

// ------------------------------------------------------------------ SQLite glue

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        });
    }
    Ok(Row(out))
}

fn sqlite_params(params: Params<'_>) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

fn sqlite_execute(c: &rusqlite::Connection, sql: &str, params: Params<'_>) -> Result<u64> {
    let vals = sqlite_params(params);
    let mut st = c.prepare_cached(sql)?;
    Ok(st.execute(rusqlite::params_from_iter(vals.iter()))? as u64)
}

fn sqlite_for_each(
    c: &rusqlite::Connection,
    sql: &str,
    params: Params<'_>,
    f: &mut dyn FnMut(&Row) -> Result<()>,
) -> Result<()> {
    let vals = sqlite_params(params);
    let mut st = c.prepare_cached(sql)?;
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(vals.iter()))?;
    while let Some(r) = rows.next()? {
        f(&sqlite_row(r, n)?)?;
    }
    Ok(())
}

// ------------------------------------------------------------------ PostgreSQL glue

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let bad = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot send {} as a PostgreSQL {ty}", self.kind()).into()
        };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i).map_err(|_| bad())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i).map_err(|_| bad())?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::OID => u32::try_from(*i).map_err(|_| bad())?.to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(bad()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                    f.to_string().to_sql(&Type::TEXT, out)
                }
                _ => Err(bad()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(&Type::TEXT, out)
                }
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => Err(bad()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(bad()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Binary NUMERIC (what `SUM(bigint)` and `AVG` return) to an integer or a real.
fn decode_numeric(raw: &[u8]) -> std::result::Result<Value, String> {
    let u16_at = |i: usize| -> std::result::Result<u16, String> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short NUMERIC".to_string())
    };
    let ndigits = u16_at(0)? as usize;
    let weight = u16_at(2)? as i16 as i32;
    let sign = u16_at(4)?;
    let dscale = u16_at(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut v = 0f64;
    for k in 0..ndigits {
        let d = u16_at(8 + 2 * k)? as f64;
        v += d * 10000f64.powi(weight - k as i32);
    }
    if sign == 0x4000 {
        v = -v;
    }
    Ok(if dscale == 0 && v.abs() < 9.0e15 {
        Value::Int(v.round() as i64)
    } else {
        Value::Real(v)
    })
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)? as i64),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)? as i64),
            Type::OID => Value::Int(u32::from_sql(ty, raw)? as i64),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)? as i64),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)? as f64),
            Type::NUMERIC => decode_numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSONB => Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or(&[])).into()),
            _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        })
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `?N` placeholders to `$N` (outside string literals and quoted identifiers).
pub(crate) fn to_pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

/// A PostgreSQL connection with its prepared statements.
pub(crate) struct PgConn {
    pub client: postgres::Client,
    stmts: HashMap<String, postgres::Statement>,
}

impl PgConn {
    pub fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client,
            stmts: HashMap::new(),
        }
    }

    /// Whether the connection is still usable (not closed by the server or the network).
    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }

    /// Forget prepared statements (after DDL that changes what they read).
    pub fn clear_statements(&mut self) {
        self.stmts.clear();
    }
}

fn pg_statement<C: postgres::GenericClient>(
    c: &mut C,
    stmts: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement> {
    if let Some(s) = stmts.get(sql) {
        return Ok(s.clone());
    }
    let st = c.prepare(&to_pg_placeholders(sql))?;
    stmts.insert(sql.to_string(), st.clone());
    Ok(st)
}

fn pg_values(params: Params<'_>) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

fn pg_execute<C: postgres::GenericClient>(
    c: &mut C,
    stmts: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    params: Params<'_>,
) -> Result<u64> {
    let st = pg_statement(c, stmts, sql)?;
    let vals = pg_values(params);
    let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    Ok(c.execute(&st, &refs)?)
}

/// All rows of a query. PostgreSQL cannot run a second statement on a connection while it
/// streams a result, and callers may query again for each row (as they can with SQLite), so
/// the rows are read before any is handed out.
fn pg_rows<C: postgres::GenericClient>(
    c: &mut C,
    stmts: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>> {
    use postgres::fallible_iterator::FallibleIterator;
    let st = pg_statement(c, stmts, sql)?;
    let n = st.columns().len();
    let vals = pg_values(params);
    let mut it = c.query_raw(&st, vals.iter())?;
    let mut out = Vec::new();
    while let Some(r) = it.next()? {
        let mut row = Vec::with_capacity(n);
        for i in 0..n {
            row.push(r.try_get::<_, Value>(i)?);
        }
        out.push(Row(row));
    }
    Ok(out)
}

// ------------------------------------------------------------------ the shared API

/// What both a connection and a transaction can run.
pub(crate) trait Exec {
    fn backend(&self) -> Backend;
    /// Run a statement; the number of rows it changed.
    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64>;
    /// Run a query and hand each row to `f` as it arrives.
    fn for_each_row(
        &self,
        sql: &str,
        params: Params<'_>,
        f: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<()>;

    /// All rows, each mapped by `f`.
    fn query<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.for_each_row(sql, params, &mut |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, if any.
    fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>>
    where
        Self: Sized,
    {
        let mut first: Option<Row> = None;
        self.for_each_row(sql, params, &mut |r| {
            if first.is_none() {
                first = Some(r.clone());
            }
            Ok(())
        })?;
        first.as_ref().map(f).transpose()
    }

    /// Exactly the first row (an error when there is none).
    fn query_row<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T>
    where
        Self: Sized,
    {
        self.query_opt(sql, params, f)?.ok_or(StoreError::NoRows)
    }

    /// The first column of the first row.
    fn one<T: FromValue>(&self, sql: &str, params: Params<'_>) -> Result<T>
    where
        Self: Sized,
    {
        self.query_row(sql, params, |r| r.get(0))
    }

    /// The first column of every row.
    fn column<T: FromValue>(&self, sql: &str, params: Params<'_>) -> Result<Vec<T>>
    where
        Self: Sized,
    {
        self.query(sql, params, |r| r.get(0))
    }
}

/// A connection of either backend.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Pg(Box<RefCell<PgConn>>),
    /// Handed back to the pool (only while a `Store` is being dropped).
    Closed,
}

fn closed() -> StoreError {
    StoreError::Invalid("the connection was closed".into())
}

impl Exec for Db {
    fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Pg(_) | Db::Closed => Backend::Postgres,
        }
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        match self {
            Db::Sqlite(c) => sqlite_execute(c, sql, params),
            Db::Pg(c) => {
                let mut c = c.borrow_mut();
                let PgConn { client, stmts } = &mut *c;
                pg_execute(client, stmts, sql, params)
            }
            Db::Closed => Err(closed()),
        }
    }

    fn for_each_row(
        &self,
        sql: &str,
        params: Params<'_>,
        f: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<()> {
        match self {
            Db::Sqlite(c) => sqlite_for_each(c, sql, params, f),
            Db::Pg(c) => {
                let rows = {
                    let mut c = c.borrow_mut();
                    let PgConn { client, stmts } = &mut *c;
                    pg_rows(client, stmts, sql, params)?
                };
                rows.iter().try_for_each(f)
            }
            Db::Closed => Err(closed()),
        }
    }
}

/// An open write transaction of either backend.
pub(crate) enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Pg(RefCell<PgTx<'a>>),
}

pub(crate) struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    stmts: &'a mut HashMap<String, postgres::Statement>,
}

impl Exec for Tx<'_> {
    fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Pg(_) => Backend::Postgres,
        }
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        match self {
            Tx::Sqlite(c) => sqlite_execute(c, sql, params),
            Tx::Pg(c) => {
                let mut c = c.borrow_mut();
                let PgTx { tx, stmts } = &mut *c;
                pg_execute(tx, stmts, sql, params)
            }
        }
    }

    fn for_each_row(
        &self,
        sql: &str,
        params: Params<'_>,
        f: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<()> {
        match self {
            Tx::Sqlite(c) => sqlite_for_each(c, sql, params, f),
            Tx::Pg(c) => {
                let rows = {
                    let mut c = c.borrow_mut();
                    let PgTx { tx, stmts } = &mut *c;
                    pg_rows(tx, stmts, sql, params)?
                };
                rows.iter().try_for_each(f)
            }
        }
    }
}

impl Tx<'_> {
    /// Run several statements without parameters (migrations).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Tx::Pg(c) => Ok(c.borrow_mut().tx.batch_execute(sql)?),
        }
    }
}

impl Db {
    /// Run `f` in one write transaction: SQLite takes the write lock up front (IMMEDIATE,
    /// which avoids deadlock-style SQLITE_BUSY between two writers upgrading read locks);
    /// PostgreSQL runs it READ COMMITTED, with row locks where a statement needs them.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        match self {
            Db::Sqlite(c) => {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let tx = Tx::Sqlite(tx);
                let out = f(&tx)?;
                let Tx::Sqlite(tx) = tx else { unreachable!() };
                tx.commit()?;
                Ok(out)
            }
            Db::Pg(c) => {
                let c = c.get_mut();
                let PgConn { client, stmts } = c;
                let tx = client.transaction()?;
                let tx = Tx::Pg(RefCell::new(PgTx { tx, stmts }));
                let out = f(&tx)?;
                let Tx::Pg(tx) = tx else { unreachable!() };
                tx.into_inner().tx.commit()?;
                Ok(out)
            }
            Db::Closed => Err(closed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_literals_become_dollars() {
        assert_eq!(
            to_pg_placeholders(
                "SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b IS NOT DISTINCT FROM ?12"
            ),
            "SELECT '?1', \"a?\" FROM t WHERE a = $1 AND b IS NOT DISTINCT FROM $12"
        );
    }

    #[test]
    fn numeric_decodes_to_int_or_real() {
        // 12345678 = digits [1234, 5678], weight 1, scale 0.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(decode_numeric(&raw).unwrap(), Value::Int(12_345_678));
        // -1.5 = digits [1, 5000], weight 0, scale 1, negative.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(decode_numeric(&raw).unwrap(), Value::Real(-1.5));
        // zero: no digits.
        assert_eq!(
            decode_numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Value::Int(0)
        );
    }

    #[test]
    fn rows_read_as_the_types_asked() {
        let r = Row(vec![
            Value::Int(3),
            Value::Null,
            Value::Text("x".into()),
            Value::Int(1),
        ]);
        assert_eq!(r.get::<i64>(0).unwrap(), 3);
        assert_eq!(r.get::<f64>(0).unwrap(), 3.0);
        assert_eq!(r.get::<Option<String>>(1).unwrap(), None);
        assert_eq!(r.get::<String>(2).unwrap(), "x");
        assert!(r.get::<bool>(3).unwrap());
        assert!(r.get::<String>(0).is_err());
        assert!(r.get::<i64>(9).is_err());
    }
}
