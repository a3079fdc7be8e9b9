//! The default bilingual labels of form projects: field types and page industries, the
//! mapping of Formasaurus field codes onto the field types, and a small bilingual lexicon
//! (Chinese and English keywords per field type and per industry) used as model features, to
//! synthesize Chinese training examples for the base model, and as the industry fallback when no
//! industry model exists.

use crate::domain::NewLabel;

/// One default field type: name (stable id), Chinese and English display, keywords.
#[derive(Debug, Clone, Copy)]
pub struct FieldTypeDef {
    pub name: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// Lower-case keywords (Chinese and English) that suggest this type in a field's texts.
    pub keywords: &'static [&'static str],
    /// Typical `name`/`id` attribute values (English and pinyin) for synthetic examples.
    pub attr_names: &'static [&'static str],
}

/// The default field types, in hotkey order (the most common first).
pub const FIELD_TYPES: &[FieldTypeDef] = &[
    FieldTypeDef {
        name: "name",
        zh: "姓名",
        en: "name",
        keywords: &[
            "姓名",
            "名字",
            "称呼",
            "联系人",
            "真实姓名",
            "您的姓名",
            "昵称",
            "full name",
            "first name",
            "last name",
            "your name",
            "surname",
            "名前",
            "氏名",
        ],
        attr_names: &[
            "name",
            "realname",
            "username_cn",
            "xingming",
            "contact_name",
            "fullname",
            "first_name",
            "last_name",
        ],
    },
    FieldTypeDef {
        name: "phone",
        zh: "手机号",
        en: "phone",
        keywords: &[
            "手机",
            "电话",
            "联系方式",
            "手机号码",
            "联系电话",
            "mobile",
            "phone",
            "tel",
            "cellphone",
            "telephone",
            "電話",
        ],
        attr_names: &[
            "mobile",
            "phone",
            "tel",
            "shouji",
            "telephone",
            "cellphone",
            "mobile_phone",
        ],
    },
    FieldTypeDef {
        name: "email",
        zh: "邮箱",
        en: "email",
        keywords: &[
            "邮箱",
            "电子邮件",
            "电子邮箱",
            "email",
            "e-mail",
            "mail",
            "メール",
        ],
        attr_names: &["email", "mail", "youxiang", "user_email"],
    },
    FieldTypeDef {
        name: "sms_code",
        zh: "短信验证码",
        en: "SMS code",
        keywords: &[
            "短信验证码",
            "手机验证码",
            "动态码",
            "校验码",
            "获取验证码",
            "sms",
            "verification code",
            "verify code",
            "otp",
        ],
        attr_names: &[
            "smscode",
            "sms_code",
            "code",
            "verifycode",
            "yzm",
            "checkcode",
            "mobile_code",
        ],
    },
    FieldTypeDef {
        name: "password",
        zh: "密码",
        en: "password",
        keywords: &[
            "密码",
            "登录密码",
            "password",
            "passwd",
            "pwd",
            "パスワード",
        ],
        attr_names: &["password", "pwd", "passwd", "mima", "pass"],
    },
    FieldTypeDef {
        name: "password_confirm",
        zh: "确认密码",
        en: "password confirmation",
        keywords: &[
            "确认密码",
            "再次输入",
            "重复密码",
            "再输一次",
            "confirm password",
            "repeat password",
            "retype",
            "password again",
            "confirm",
        ],
        attr_names: &[
            "password2",
            "repassword",
            "confirm_password",
            "pwd2",
            "password_confirmation",
            "repwd",
        ],
    },
    FieldTypeDef {
        name: "username",
        zh: "用户名",
        en: "username",
        keywords: &[
            "用户名",
            "账号",
            "帐号",
            "登录名",
            "会员名",
            "username",
            "user name",
            "login",
            "account",
            "user id",
        ],
        attr_names: &[
            "username",
            "user",
            "login",
            "account",
            "zhanghao",
            "userid",
            "loginname",
        ],
    },
    FieldTypeDef {
        name: "gender",
        zh: "性别",
        en: "gender",
        keywords: &[
            "性别", "先生", "女士", "gender", "sex", "male", "female", "性別",
        ],
        attr_names: &["gender", "sex", "xingbie"],
    },
    FieldTypeDef {
        name: "birthday",
        zh: "出生日期",
        en: "birthday",
        keywords: &[
            "生日",
            "出生日期",
            "出生年月",
            "出生",
            "birthday",
            "birth",
            "date of birth",
            "dob",
            "生年月日",
        ],
        attr_names: &["birthday", "birth", "dob", "birthdate", "shengri"],
    },
    FieldTypeDef {
        name: "id_card",
        zh: "身份证号",
        en: "ID card number",
        keywords: &[
            "身份证",
            "身份证号",
            "证件号",
            "证件号码",
            "身份证号码",
            "id card",
            "id number",
            "identity card",
            "national id",
        ],
        attr_names: &[
            "idcard",
            "id_card",
            "idno",
            "identity",
            "sfz",
            "shenfenzheng",
            "cardno",
        ],
    },
    FieldTypeDef {
        name: "address",
        zh: "地址",
        en: "address",
        keywords: &[
            "地址",
            "详细地址",
            "住址",
            "收货地址",
            "街道",
            "门牌",
            "address",
            "street",
            "住所",
        ],
        attr_names: &["address", "addr", "dizhi", "street", "address1"],
    },
    FieldTypeDef {
        name: "country",
        zh: "国家",
        en: "country",
        keywords: &[
            "国家",
            "国籍",
            "国家/地区",
            "country",
            "nation",
            "nationality",
            "country/region",
        ],
        attr_names: &["country", "nation", "guojia", "country_code", "nationality"],
    },
    FieldTypeDef {
        name: "state",
        zh: "省份",
        en: "province/state",
        keywords: &[
            "省份",
            "所在省",
            "省/直辖市",
            "province",
            "state",
            "prefecture",
            "county/state",
            "都道府県",
        ],
        attr_names: &["province", "state", "sheng", "prov", "region_state"],
    },
    FieldTypeDef {
        name: "city",
        zh: "城市",
        en: "city",
        keywords: &[
            "城市",
            "所在城市",
            "意向城市",
            "工作城市",
            "city",
            "town",
            "town/city",
            "suburb",
        ],
        attr_names: &["city", "town", "shi", "city_name", "cityname"],
    },
    FieldTypeDef {
        name: "district",
        zh: "区县",
        en: "district",
        keywords: &["区县", "县区", "区/县", "所在区", "district", "county"],
        attr_names: &["district", "county", "qu", "area_district", "xian"],
    },
    FieldTypeDef {
        name: "region",
        zh: "省市区",
        en: "region picker",
        keywords: &[
            "省市区",
            "所在地区",
            "地区",
            "省市",
            "所在地",
            "选择地区",
            "籍贯",
            "region",
            "location",
        ],
        attr_names: &["area", "region", "location", "diqu", "city_picker", "pcd"],
    },
    FieldTypeDef {
        name: "postal_code",
        zh: "邮编",
        en: "postal code",
        keywords: &["邮编", "邮政编码", "zip", "postal", "postcode", "郵便番号"],
        attr_names: &["zip", "zipcode", "postcode", "postal_code", "youbian"],
    },
    FieldTypeDef {
        name: "company",
        zh: "公司",
        en: "company",
        keywords: &[
            "公司",
            "单位",
            "企业",
            "公司名称",
            "工作单位",
            "机构",
            "company",
            "organization",
            "organisation",
            "employer",
            "business name",
            "会社",
        ],
        attr_names: &[
            "company",
            "org",
            "organization",
            "gongsi",
            "corp",
            "company_name",
        ],
    },
    FieldTypeDef {
        name: "job_title",
        zh: "职位",
        en: "job title",
        keywords: &[
            "职位",
            "职务",
            "岗位",
            "职称",
            "应聘职位",
            "job title",
            "position",
            "occupation",
            "role",
        ],
        attr_names: &[
            "job",
            "position",
            "title_job",
            "zhiwei",
            "occupation",
            "jobtitle",
        ],
    },
    FieldTypeDef {
        name: "salary_budget",
        zh: "薪资/预算",
        en: "salary/budget",
        keywords: &[
            "薪资",
            "薪水",
            "工资",
            "月薪",
            "年薪",
            "期望薪资",
            "预算",
            "价位",
            "budget",
            "salary",
            "income",
            "price range",
        ],
        attr_names: &[
            "salary",
            "budget",
            "income",
            "xinzi",
            "yusuan",
            "expected_salary",
        ],
    },
    FieldTypeDef {
        name: "datetime",
        zh: "日期/预约时间",
        en: "date/appointment time",
        keywords: &[
            "日期",
            "时间",
            "预约时间",
            "到店时间",
            "预约日期",
            "date",
            "time",
            "appointment",
            "day",
            "month",
            "year",
        ],
        attr_names: &[
            "date",
            "time",
            "appointment",
            "yuyue_time",
            "visit_date",
            "day",
            "month",
            "year",
        ],
    },
    FieldTypeDef {
        name: "message",
        zh: "留言",
        en: "message",
        keywords: &[
            "留言",
            "备注",
            "说明",
            "描述",
            "意见",
            "建议",
            "内容",
            "message",
            "comment",
            "note",
            "remark",
            "description",
            "feedback",
            "about",
            "お問い合わせ",
        ],
        attr_names: &[
            "message", "comment", "content", "remark", "note", "liuyan", "beizhu", "body",
        ],
    },
    FieldTypeDef {
        name: "captcha",
        zh: "图形验证码",
        en: "captcha",
        keywords: &[
            "图形验证码",
            "图片验证码",
            "验证码",
            "看不清",
            "captcha",
            "verification",
            "画像認証",
        ],
        attr_names: &[
            "captcha", "vcode", "imgcode", "verify", "authcode", "seccode",
        ],
    },
    FieldTypeDef {
        name: "agreement",
        zh: "同意协议",
        en: "agreement checkbox",
        keywords: &[
            "同意",
            "协议",
            "条款",
            "隐私",
            "已阅读",
            "服务条款",
            "agree",
            "terms",
            "privacy",
            "consent",
            "subscribe",
            "newsletter",
            "accept",
        ],
        attr_names: &[
            "agree",
            "agreement",
            "terms",
            "tos",
            "privacy",
            "accept",
            "newsletter",
        ],
    },
    FieldTypeDef {
        name: "submit",
        zh: "提交按钮",
        en: "submit",
        keywords: &[
            "提交",
            "确定",
            "立即报名",
            "立即预约",
            "注册",
            "登录",
            "马上",
            "立即",
            "submit",
            "send",
            "sign up",
            "register",
            "sign in",
            "log in",
            "go",
            "送信",
        ],
        attr_names: &["submit", "btn", "commit", "send", "btn_submit"],
    },
    FieldTypeDef {
        name: "card_number",
        zh: "银行卡号",
        en: "card number",
        keywords: &[
            "卡号",
            "银行卡号",
            "信用卡号",
            "card number",
            "credit card",
            "card no",
            "debit card",
        ],
        attr_names: &[
            "cardnumber",
            "cc_number",
            "ccnum",
            "card_no",
            "card_number",
            "yinhangka",
        ],
    },
    FieldTypeDef {
        name: "card_name",
        zh: "持卡人",
        en: "cardholder name",
        keywords: &[
            "持卡人",
            "持卡人姓名",
            "开户名",
            "cardholder",
            "card holder",
            "name on card",
        ],
        attr_names: &[
            "cc_name",
            "cardholder",
            "card_holder",
            "holder_name",
            "ccname",
        ],
    },
    FieldTypeDef {
        name: "card_expiry",
        zh: "卡有效期",
        en: "card expiry",
        keywords: &[
            "有效期",
            "到期日",
            "expiry",
            "expiration",
            "exp date",
            "valid thru",
            "mm/yy",
        ],
        attr_names: &[
            "cc_exp",
            "expiry",
            "exp_month",
            "exp_year",
            "ccexp",
            "card_expiry",
        ],
    },
    FieldTypeDef {
        name: "card_cvc",
        zh: "安全码",
        en: "card security code",
        keywords: &[
            "安全码",
            "卡背后三位",
            "cvv",
            "cvc",
            "csc",
            "cvv2",
            "card security code",
        ],
        attr_names: &["cvv", "cvc", "cc_csc", "cvv2", "card_cvc", "security_code"],
    },
    FieldTypeDef {
        name: "search",
        zh: "搜索",
        en: "search",
        keywords: &[
            "搜索",
            "查询",
            "关键词",
            "关键字",
            "search",
            "keyword",
            "query",
            "find",
            "検索",
        ],
        attr_names: &["q", "search", "keyword", "kw", "query", "wd", "s"],
    },
    FieldTypeDef {
        name: "other",
        zh: "其他",
        en: "other",
        keywords: &[],
        attr_names: &[],
    },
];

/// Name of the catch-all field type.
pub const OTHER: &str = "other";

/// One default industry.
#[derive(Debug, Clone, Copy)]
pub struct IndustryDef {
    pub name: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub keywords: &'static [&'static str],
    /// The field types a page of this industry typically asks for, in order (the seed preset
    /// when no confirmed page of the industry exists yet).
    pub seed_fields: &'static [&'static str],
}

/// The default page industries.
pub const INDUSTRIES: &[IndustryDef] = &[
    IndustryDef {
        name: "real_estate",
        zh: "房产",
        en: "real estate",
        keywords: &[
            "房产",
            "楼盘",
            "户型",
            "置业",
            "看房",
            "买房",
            "租房",
            "房源",
            "中介",
            "二手房",
            "新房",
            "小区",
            "首付",
            "面积",
            "地产",
            "real estate",
            "property",
            "apartment",
            "housing",
            "realtor",
        ],
        seed_fields: &[
            "name",
            "phone",
            "sms_code",
            "salary_budget",
            "region",
            "datetime",
            "message",
            "agreement",
            "submit",
        ],
    },
    IndustryDef {
        name: "recruiting",
        zh: "招聘",
        en: "recruiting",
        keywords: &[
            "招聘",
            "求职",
            "简历",
            "薪资",
            "职位",
            "岗位",
            "工作年限",
            "猎头",
            "应聘",
            "人才",
            "面试",
            "入职",
            "job",
            "resume",
            "career",
            "hiring",
            "recruit",
            "candidate",
        ],
        seed_fields: &[
            "name",
            "phone",
            "email",
            "company",
            "job_title",
            "salary_budget",
            "city",
            "message",
            "submit",
        ],
    },
    IndustryDef {
        name: "tech_community",
        zh: "技术社区",
        en: "tech community",
        keywords: &[
            "技术",
            "开发者",
            "github",
            "技术栈",
            "编程",
            "代码",
            "社区",
            "开源",
            "程序员",
            "黑客松",
            "沙龙",
            "developer",
            "open source",
            "programming",
            "hackathon",
            "meetup",
        ],
        seed_fields: &[
            "name",
            "email",
            "phone",
            "company",
            "job_title",
            "message",
            "agreement",
            "submit",
        ],
    },
    IndustryDef {
        name: "education",
        zh: "教育",
        en: "education",
        keywords: &[
            "课程", "培训", "学校", "学生", "试听", "家长", "年级", "老师", "教育", "学习", "考试",
            "辅导", "留学", "course", "school", "student", "tuition", "class", "training",
        ],
        seed_fields: &[
            "name", "phone", "sms_code", "region", "datetime", "message", "submit",
        ],
    },
    IndustryDef {
        name: "automotive",
        zh: "汽车",
        en: "automotive",
        keywords: &[
            "汽车",
            "试驾",
            "车型",
            "4s",
            "经销商",
            "购车",
            "车辆",
            "新车",
            "车主",
            "car",
            "vehicle",
            "test drive",
            "dealer",
            "auto",
        ],
        seed_fields: &[
            "name",
            "phone",
            "sms_code",
            "region",
            "datetime",
            "agreement",
            "submit",
        ],
    },
    IndustryDef {
        name: "insurance",
        zh: "保险",
        en: "insurance",
        keywords: &[
            "保险",
            "保单",
            "投保",
            "理赔",
            "保费",
            "险种",
            "重疾",
            "医疗险",
            "insurance",
            "policy",
            "claim",
            "premium",
        ],
        seed_fields: &[
            "name",
            "phone",
            "gender",
            "birthday",
            "id_card",
            "agreement",
            "submit",
        ],
    },
    IndustryDef {
        name: "retail",
        zh: "零售",
        en: "retail",
        keywords: &[
            "购物",
            "订单",
            "商品",
            "会员",
            "优惠",
            "折扣",
            "门店",
            "购买",
            "收货",
            "领取",
            "优惠券",
            "shop",
            "order",
            "cart",
            "member",
            "coupon",
            "store",
            "checkout",
        ],
        seed_fields: &[
            "name", "phone", "sms_code", "address", "region", "message", "submit",
        ],
    },
    IndustryDef {
        name: "other",
        zh: "其他",
        en: "other",
        keywords: &[],
        seed_fields: &["name", "phone", "message", "submit"],
    },
];

fn label_of(name: &str, zh: &str, en: &str) -> NewLabel {
    NewLabel {
        name: name.to_string(),
        display_name: Some(format!("{zh} {en}")),
        ..Default::default()
    }
}

/// The default field types as labels (bilingual display names, e.g. "手机号 phone").
pub fn default_field_types() -> Vec<NewLabel> {
    FIELD_TYPES
        .iter()
        .map(|t| label_of(t.name, t.zh, t.en))
        .collect()
}

/// The default industries as labels.
pub fn default_industries() -> Vec<NewLabel> {
    INDUSTRIES
        .iter()
        .map(|t| label_of(t.name, t.zh, t.en))
        .collect()
}

/// Names of the default field types, in order.
pub fn field_type_names() -> Vec<String> {
    FIELD_TYPES.iter().map(|t| t.name.to_string()).collect()
}

/// Names of the default industries, in order.
pub fn industry_names() -> Vec<String> {
    INDUSTRIES.iter().map(|t| t.name.to_string()).collect()
}

/// The default definition of a field type, if it is one.
pub fn field_type(name: &str) -> Option<&'static FieldTypeDef> {
    FIELD_TYPES.iter().find(|t| t.name == name)
}

/// The default definition of an industry, if it is one.
pub fn industry(name: &str) -> Option<&'static IndustryDef> {
    INDUSTRIES.iter().find(|t| t.name == name)
}

/// The field type a Formasaurus field code maps to; `None` for codes that are not used for
/// training (not annotated, honeypots, which no human sees).
pub fn formasaurus_type(code: &str) -> Option<&'static str> {
    Some(match code {
        "XX" | "hp" | "--" => return None,
        "us" | "ue" => "username",
        "e1" | "e2" => "email",
        "p1" => "password",
        "p2" => "password_confirm",
        "ca" => "captcha",
        "pi" => "sms_code",
        "tC" | "eC" => "agreement",
        "Bs" => "submit",
        "n1" | "n2" | "n3" | "nf" | "ns" => "name",
        "ch" => "card_name",
        "c#" => "card_number",
        "cs" => "card_cvc",
        "cm" | "cy" => "card_expiry",
        "no" => "company",
        "ge" => "gender",
        "bd" | "bm" | "by" | "bD" => "birthday",
        "Co" => "country",
        "Ci" => "city",
        "St" => "state",
        "Ad" | "Sa" | "Sn" | "S#" | "A#" | "A1" | "A2" | "PO" | "cA" => "address",
        "Zi" => "postal_code",
        "ph" | "P0" | "P1" | "P2" | "P3" => "phone",
        "am" | "CC" => "message",
        "qq" => "search",
        "OD" | "Od" | "Om" | "Oy" => "datetime",
        _ => OTHER,
    })
}

/// The group of region types: a combined 省市区 picker is labelled `region` itself; country,
/// province/state, city and district are its members. Projects created before the split only
/// have `region`, which stays valid as the group (a model's member scores fold into it there).
pub const REGION: &str = "region";

/// The group a field type belongs to (`region` for country/state/city/district).
pub fn group_of(name: &str) -> Option<&'static str> {
    matches!(name, "country" | "state" | "city" | "district").then_some(REGION)
}

/// Whether two field types match allowing for the group: equal, or one is the group of the
/// other (a project's `region` against a model's `city`).
pub fn same_or_group(a: &str, b: &str) -> bool {
    a == b || group_of(a) == Some(b) || group_of(b) == Some(a)
}

/// The field type a WHATWG `autocomplete` attribute names (the last token that is a field
/// name: `section-x shipping address-level2` -> city). `None` for `on`/`off`, unknown tokens
/// and fields the taxonomy does not type (url, photo, language...).
pub fn autocomplete_type(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase();
    let token = lower.split_ascii_whitespace().last()?;
    Some(match token {
        "name" | "given-name" | "additional-name" | "family-name" | "honorific-prefix"
        | "honorific-suffix" | "nickname" => "name",
        "username" => "username",
        "email" => "email",
        "new-password" | "current-password" => "password",
        "one-time-code" => "sms_code",
        "organization" => "company",
        "organization-title" => "job_title",
        "street-address" | "address-line1" | "address-line2" | "address-line3" => "address",
        "address-level1" => "state",
        "address-level2" => "city",
        "address-level3" | "address-level4" => "district",
        "country" | "country-name" => "country",
        "postal-code" => "postal_code",
        "cc-name" | "cc-given-name" | "cc-additional-name" | "cc-family-name" => "card_name",
        "cc-number" => "card_number",
        "cc-exp" | "cc-exp-month" | "cc-exp-year" => "card_expiry",
        "cc-csc" => "card_cvc",
        "bday" | "bday-day" | "bday-month" | "bday-year" => "birthday",
        "sex" => "gender",
        "tel" | "tel-country-code" | "tel-national" | "tel-area-code" | "tel-local"
        | "tel-local-prefix" | "tel-local-suffix" | "tel-extension" | "mobile" => "phone",
        _ => return None,
    })
}

/// Which field types' keywords occur in `text` (lower-cased by the caller), one 0/1 per
/// [`FIELD_TYPES`] entry.
pub fn field_lexicon_hits(text_lower: &str) -> Vec<f32> {
    FIELD_TYPES
        .iter()
        .map(|t| {
            if t.keywords.iter().any(|k| keyword_in(text_lower, k)) {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Keyword counts per [`INDUSTRIES`] entry in `text` (lower-cased by the caller).
pub fn industry_lexicon_counts(text_lower: &str) -> Vec<f32> {
    INDUSTRIES
        .iter()
        .map(|t| {
            t.keywords
                .iter()
                .filter(|k| keyword_in(text_lower, k))
                .count() as f32
        })
        .collect()
}

/// Whether a keyword occurs: CJK keywords as substrings; ASCII keywords on word boundaries
/// (so "tel" does not fire inside "hotel").
fn keyword_in(text: &str, kw: &str) -> bool {
    if !kw.is_ascii() {
        return text.contains(kw);
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(p) = text[from..].find(kw) {
        let s = from + p;
        let e = s + kw.len();
        let before_ok = s == 0 || !bytes[s - 1].is_ascii_alphanumeric();
        let after_ok = e >= bytes.len() || !bytes[e].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = s + 1;
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// The industry a one-line requirement (or any text) most likely belongs to by the lexicon:
/// (industry name, keyword hits). `None` when no keyword matches.
pub fn industry_by_lexicon(text: &str) -> Option<(&'static str, usize)> {
    let lower = text.to_lowercase();
    let counts = industry_lexicon_counts(&lower);
    let (best, &n) = counts
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    (n > 0.0).then(|| (INDUSTRIES[best].name, n as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_bilingual_and_unique() {
        let f = default_field_types();
        assert!(f.len() >= 20);
        assert!(f
            .iter()
            .any(|l| l.display_name.as_deref() == Some("手机号 phone")));
        let mut names: Vec<_> = f.iter().map(|l| l.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), f.len());
        assert_eq!(default_industries().len(), INDUSTRIES.len());
        for i in INDUSTRIES {
            for s in i.seed_fields {
                assert!(field_type(s).is_some(), "{s}");
            }
        }
    }

    #[test]
    fn formasaurus_codes_map_onto_the_taxonomy() {
        for code in ["us", "e1", "p2", "ph", "Bs", "n1", "Zi", "qq", "OO", "Bo"] {
            let t = formasaurus_type(code).unwrap();
            assert!(field_type(t).is_some(), "{code} -> {t}");
        }
        assert_eq!(formasaurus_type("XX"), None);
        assert_eq!(formasaurus_type("Ci"), Some("city"));
        assert_eq!(formasaurus_type("c#"), Some("card_number"));
        assert_eq!(formasaurus_type("ph"), Some("phone"));
    }

    #[test]
    fn autocomplete_tokens_and_region_group() {
        assert_eq!(
            autocomplete_type("section-a shipping address-level2"),
            Some("city")
        );
        assert_eq!(autocomplete_type("cc-csc"), Some("card_cvc"));
        assert_eq!(autocomplete_type("new-password"), Some("password"));
        assert_eq!(autocomplete_type("off"), None);
        for t in ["country", "state", "city", "district"] {
            assert_eq!(group_of(t), Some(REGION));
            assert!(same_or_group(REGION, t) && field_type(t).is_some());
        }
        assert!(!same_or_group("city", "state"));
        for tok in [
            "given-name",
            "street-address",
            "postal-code",
            "tel",
            "bday",
            "sex",
        ] {
            assert!(
                field_type(autocomplete_type(tok).unwrap()).is_some(),
                "{tok}"
            );
        }
    }

    #[test]
    fn lexicon_matches_words_and_chinese() {
        let phone = FIELD_TYPES.iter().position(|t| t.name == "phone").unwrap();
        assert_eq!(field_lexicon_hits("请输入手机号码")[phone], 1.0);
        assert_eq!(field_lexicon_hits("hotel booking")[phone], 0.0);
        assert_eq!(field_lexicon_hits("your tel:")[phone], 1.0);
        assert_eq!(
            industry_by_lexicon("房产中介客户登记").map(|x| x.0),
            Some("real_estate")
        );
        assert_eq!(
            industry_by_lexicon("Java 高级工程师招聘 简历投递").map(|x| x.0),
            Some("recruiting")
        );
        assert_eq!(industry_by_lexicon("hello"), None);
    }
}
