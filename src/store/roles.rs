//! Members of a team project and their roles, enforced by the server: each member is a
//! PostgreSQL login in one of the project's two group roles, whose GRANTs and row policies say
//! what they may do.
//!
//! - **annotator**: reads items, labels, predictions and models; inserts decisions under their
//!   own login name only (never `review`); takes and gives back leases. Cannot change labels
//!   or the label sets, activate or register models, read the gold answers, read the other
//!   annotators' decisions (blind overlap), or update or delete any decision.
//! - **lead**: everything in the project, except that decisions are append-only for everyone
//!   (a trigger refuses UPDATE and DELETE, the owner's included).
//!
//! The project's current labels (`item_labels`) are written only by a server function that
//! derives them from the decisions, so no member writes a label directly.

use super::db::Exec;
use super::team::{connect, quote_ident};
use super::{Result, Store, StoreError, TeamUrl};

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The project's owner (and every project file): everything.
    Owner,
    Lead,
    Annotator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Lead => "lead",
            Role::Annotator => "annotator",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "lead" => Some(Role::Lead),
            "annotator" => Some(Role::Annotator),
            _ => None,
        }
    }
    /// Whether the lead's screens and commands (training, activation, gold, review queue,
    /// insights, exports) are for this role.
    pub fn is_lead(self) -> bool {
        self != Role::Annotator
    }
}

/// A member of a team project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub name: String,
    pub role: Role,
}

/// The project's group role for `role` (lead or annotator).
fn group(schema: &str, role: Role) -> String {
    // PostgreSQL names are at most 63 bytes; long project names keep a hash to stay distinct.
    let base = format!("{schema}_{}", role.as_str());
    if base.len() <= 63 {
        return base;
    }
    let h = schema.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let cut: String = schema.chars().take(30).collect();
    format!("{cut}_{h:016x}_{}", role.as_str())
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn role_exists(c: &mut postgres::Client, name: &str) -> Result<bool> {
    Ok(c.query_one(
        "SELECT EXISTS(SELECT 1 FROM pg_roles WHERE rolname = $1)",
        &[&name],
    )?
    .get(0))
}

fn refused(url: &TeamUrl, e: postgres::Error, what: &str) -> StoreError {
    match e.as_db_error() {
        Some(d) if d.code().code() == "42501" => StoreError::LoginRefused {
            server: url.server(),
            reason: format!(
                "{} ({what} needs the project owner's login with CREATEROLE: `ALTER ROLE {} CREATEROLE`)",
                d.message(),
                url.user
            ),
        },
        _ => e.into(),
    }
}

/// The GRANTs and row policies of the project's two groups (idempotent: run at every
/// add-member, so tables added by later migrations are covered).
fn grants_sql(schema: &str) -> String {
    let s = quote_ident(schema);
    let ga = quote_ident(&group(schema, Role::Annotator));
    let gl = quote_ident(&group(schema, Role::Lead));
    format!(
        "GRANT USAGE ON SCHEMA {s} TO {ga}, {gl};
         GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {ga};
         REVOKE ALL ON {s}.gold, {s}.annotations, {s}.reviews FROM {ga};
         GRANT INSERT ON {s}.decisions, {s}.box_decisions TO {ga};
         GRANT INSERT, UPDATE ON {s}.leases TO {ga};
         GRANT INSERT, DELETE ON {s}.claims TO {ga};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {ga};
         GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {gl};
         GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO {gl};
         ALTER TABLE {s}.decisions ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {s}.item_labels ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {s}.box_decisions ENABLE ROW LEVEL SECURITY;
         DROP POLICY IF EXISTS lead_all ON {s}.box_decisions;
         DROP POLICY IF EXISTS own_read ON {s}.box_decisions;
         DROP POLICY IF EXISTS own_insert ON {s}.box_decisions;
         CREATE POLICY lead_all ON {s}.box_decisions TO {gl} USING (true) WITH CHECK (true);
         CREATE POLICY own_read ON {s}.box_decisions FOR SELECT TO {ga} USING (annotator = current_user);
         CREATE POLICY own_insert ON {s}.box_decisions FOR INSERT TO {ga}
             WITH CHECK (annotator = current_user);
         DROP POLICY IF EXISTS lead_all ON {s}.decisions;
         DROP POLICY IF EXISTS own_read ON {s}.decisions;
         DROP POLICY IF EXISTS own_insert ON {s}.decisions;
         DROP POLICY IF EXISTS lead_all ON {s}.item_labels;
         DROP POLICY IF EXISTS no_gold ON {s}.item_labels;
         CREATE POLICY lead_all ON {s}.decisions TO {gl} USING (true) WITH CHECK (true);
         CREATE POLICY own_read ON {s}.decisions FOR SELECT TO {ga} USING (annotator = current_user);
         CREATE POLICY own_insert ON {s}.decisions FOR INSERT TO {ga}
             WITH CHECK (annotator = current_user AND action <> 'review');
         CREATE POLICY lead_all ON {s}.item_labels TO {gl} USING (true) WITH CHECK (true);
         CREATE POLICY no_gold ON {s}.item_labels FOR SELECT TO {ga}
             USING (NOT {s}.yuxuan_is_gold(item_id, label_set_id));"
    )
}

/// After a migration: the project's groups (if it has members) get their GRANTs on the new
/// tables too.
pub(crate) fn regrant(tx: &super::Tx<'_>, schema: &str) -> Result<()> {
    let groups: i64 = tx.one(
        "SELECT COUNT(*) FROM pg_roles WHERE rolname IN (?1, ?2)",
        &[&group(schema, Role::Annotator), &group(schema, Role::Lead)],
    )?;
    if groups == 2 {
        tx.batch(&grants_sql(schema))?;
    }
    Ok(())
}

/// Add a member to the team project of `url` (the owner's login): a login role `name` with
/// `password`, in the project's group for `role`. An existing login (a member of another
/// project) keeps its password and gets the role here. Returns whether the login was created.
pub fn add_member(url: &TeamUrl, name: &str, role: Role, password: &str) -> Result<bool> {
    if role == Role::Owner {
        return Err(StoreError::Invalid(
            "a member is a lead or an annotator".into(),
        ));
    }
    if name.trim().is_empty() || name.len() > 63 {
        return Err(StoreError::Invalid(
            "a member name has 1 to 63 characters".into(),
        ));
    }
    let mut c = connect(url)?;
    let schema = url.schema();
    if !super::team::project_exists(url)? {
        return Err(StoreError::NoSuchTeamProject(url.display()));
    }
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('yuxuan roles'))",
        &[],
    )?;
    let mut created = false;
    {
        let c = &mut tx;
        for g in [Role::Annotator, Role::Lead] {
            let gname = group(&schema, g);
            let exists: bool = c
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM pg_roles WHERE rolname = $1)",
                    &[&gname],
                )?
                .get(0);
            if !exists {
                c.batch_execute(&format!("CREATE ROLE {} NOLOGIN", quote_ident(&gname)))
                    .map_err(|e| refused(url, e, "adding a member"))?;
            }
        }
        c.batch_execute(&grants_sql(&schema))
            .map_err(|e| refused(url, e, "adding a member"))?;
        let exists: bool = c
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM pg_roles WHERE rolname = $1)",
                &[&name],
            )?
            .get(0);
        let q = quote_ident(name);
        if !exists {
            c.batch_execute(&format!(
                "CREATE ROLE {q} LOGIN PASSWORD {}",
                literal(password)
            ))
            .map_err(|e| refused(url, e, "adding a member"))?;
            created = true;
        }
        let other = if role == Role::Lead {
            Role::Annotator
        } else {
            Role::Lead
        };
        c.batch_execute(&format!(
            "REVOKE {} FROM {q}; GRANT {} TO {q};",
            quote_ident(&group(&schema, other)),
            quote_ident(&group(&schema, role))
        ))
        .map_err(|e| refused(url, e, "adding a member"))?;
    }
    tx.commit()?;
    Ok(created)
}

/// Take a member out of the project: their role here goes, their live leases are given back,
/// and a login that is a member of nothing else is removed. Their decisions stay.
pub fn remove_member(url: &TeamUrl, name: &str) -> Result<bool> {
    let mut c = connect(url)?;
    let schema = url.schema();
    let ga = group(&schema, Role::Annotator);
    let gl = group(&schema, Role::Lead);
    let was: bool = c
        .query_one(
            "SELECT EXISTS(SELECT 1 FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
                             JOIN pg_roles m ON m.oid = am.member
                            WHERE m.rolname = $1 AND g.rolname IN ($2, $3))",
            &[&name, &ga, &gl],
        )?
        .get(0);
    if !was {
        return Ok(false);
    }
    let q = quote_ident(name);
    c.batch_execute(&format!(
        "REVOKE {} FROM {q}; REVOKE {} FROM {q};",
        quote_ident(&ga),
        quote_ident(&gl)
    ))
    .map_err(|e| refused(url, e, "removing a member"))?;
    c.execute(
        &format!(
            "UPDATE {}.leases SET expires_ms = 0 WHERE annotator = $1",
            quote_ident(&schema)
        ),
        &[&name],
    )?;
    let others: bool = c
        .query_one(
            "SELECT EXISTS(SELECT 1 FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
                            WHERE m.rolname = $1)",
            &[&name],
        )?
        .get(0);
    if !others && role_exists(&mut c, name)? {
        // A login that owns nothing and belongs nowhere else; if the server refuses (it owns
        // something), it can no longer log in at least.
        if c.batch_execute(&format!("DROP ROLE {q}")).is_err() {
            c.batch_execute(&format!("ALTER ROLE {q} NOLOGIN"))?;
        }
    }
    Ok(true)
}

/// The members of the project of `url`, by name.
pub fn members(url: &TeamUrl) -> Result<Vec<Member>> {
    let mut c = connect(url)?;
    let schema = url.schema();
    let ga = group(&schema, Role::Annotator);
    let gl = group(&schema, Role::Lead);
    let rows = c.query(
        "SELECT m.rolname, g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
           JOIN pg_roles m ON m.oid = am.member
          WHERE g.rolname IN ($1, $2) ORDER BY m.rolname",
        &[&ga, &gl],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let g: String = r.get(1);
            Member {
                name: r.get(0),
                role: if g == gl { Role::Lead } else { Role::Annotator },
            }
        })
        .collect())
}

impl Store {
    /// This connection's role in the project: project files and the project's owner (or a
    /// superuser) are `Owner`; members are what the owner made them. A login with access but
    /// in neither group (granted by hand) counts as a lead.
    pub fn role(&self) -> Result<Role> {
        if !self.is_team() {
            return Ok(Role::Owner);
        }
        let schema: String = self.db().one("SELECT current_schema()", &[])?;
        let owner: bool = self.db().one(
            "SELECT COALESCE((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), FALSE)
                 OR COALESCE((SELECT pg_has_role(current_user, n.nspowner, 'USAGE') FROM pg_namespace n
                               WHERE n.nspname = current_schema()), FALSE)",
            &[],
        )?;
        if owner {
            return Ok(Role::Owner);
        }
        let ga = group(&schema, Role::Annotator);
        let gl = group(&schema, Role::Lead);
        let groups: Vec<String> = self.db().column(
            "SELECT g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
               JOIN pg_roles m ON m.oid = am.member
              WHERE m.rolname = current_user AND g.rolname IN (?1, ?2)",
            &[&ga, &gl],
        )?;
        Ok(if groups.contains(&gl) {
            Role::Lead
        } else if groups.contains(&ga) {
            Role::Annotator
        } else {
            Role::Lead
        })
    }

    /// The login name of a member's connection (their decisions carry it), None for project
    /// files and the owner (who names themselves).
    pub fn member_name(&self) -> Result<Option<String>> {
        let role = self.role()?;
        self.member_name_for(role)
    }

    /// [`Store::member_name`] when the role is known already.
    pub fn member_name_for(&self, role: Role) -> Result<Option<String>> {
        if role == Role::Owner {
            return Ok(None);
        }
        Ok(Some(self.db().one("SELECT current_user::text", &[])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_fit() {
        assert_eq!(group("yuxuan_demo", Role::Lead), "yuxuan_demo_lead");
        let long = format!("yuxuan_{}", "x".repeat(80));
        let g = group(&long, Role::Annotator);
        assert!(g.len() <= 63, "{g}");
        assert_ne!(g, group(&format!("{long}y"), Role::Annotator));
    }
}
