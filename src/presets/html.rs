//! A preset rendered as one standalone mobile H5 form page: inline CSS, no scripts, fonts or
//! images from elsewhere, every text escaped.

use super::{Preset, PresetField};

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const CSS: &str = "*{box-sizing:border-box}body{margin:0;background:#f4f5f7;font:16px/1.5 -apple-system,\
'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:#222}\
main{max-width:480px;margin:0 auto;padding:16px}h1{font-size:20px;margin:8px 0 4px}\
.sub{color:#888;font-size:13px;margin:0 0 16px}form{background:#fff;border-radius:12px;padding:8px 16px 16px}\
.f{padding:10px 0;border-bottom:1px solid #eee}.f>label{display:block;font-size:14px;color:#555;margin-bottom:6px}\
.req{color:#e33;margin-left:2px}input,select,textarea{width:100%;font:inherit;padding:10px;border:1px solid #ddd;\
border-radius:8px;background:#fff}textarea{min-height:88px}.choice{display:inline-flex;align-items:center;\
margin-right:16px}.choice input{width:auto;margin-right:6px}.agree{font-size:13px;color:#666}\
.agree input{width:auto;margin-right:6px}button{width:100%;margin-top:16px;padding:12px;border:0;\
border-radius:24px;background:#1677ff;color:#fff;font-size:17px}";

fn field_html(i: usize, f: &PresetField) -> String {
    let id = format!("f{i}");
    let name = escape(&f.field_type);
    let label = escape(&f.label);
    let req = if f.required { " required" } else { "" };
    let star = if f.required {
        "<span class=\"req\">*</span>"
    } else {
        ""
    };
    let ph = f
        .placeholder
        .as_deref()
        .map(|p| format!(" placeholder=\"{}\"", escape(p)))
        .unwrap_or_default();
    let it = f.input_type.as_deref().unwrap_or("text");
    match (f.tag.as_str(), it) {
        ("select", _) => {
            let opts: String = f
                .options
                .iter()
                .map(|o| format!("<option>{}</option>", escape(o)))
                .collect();
            format!("<div class=\"f\"><label for=\"{id}\">{label}{star}</label><select id=\"{id}\" name=\"{name}\"{req}>{opts}</select></div>")
        }
        ("textarea", _) => {
            format!("<div class=\"f\"><label for=\"{id}\">{label}{star}</label><textarea id=\"{id}\" name=\"{name}\"{ph}{req}></textarea></div>")
        }
        ("input", "radio") | ("input", "checkbox")
            if !f.options.is_empty() && f.field_type != "agreement" =>
        {
            let choices: String = f
                .options
                .iter()
                .map(|o| format!("<label class=\"choice\"><input type=\"{it}\" name=\"{name}\" value=\"{0}\"{req}>{0}</label>", escape(o)))
                .collect();
            format!("<div class=\"f\"><label>{label}{star}</label>{choices}</div>")
        }
        ("input", "checkbox") => {
            format!("<div class=\"f agree\"><label><input type=\"checkbox\" id=\"{id}\" name=\"{name}\"{req}>{label}</label></div>")
        }
        ("button", _) | ("input", "submit" | "button" | "image" | "reset") => String::new(),
        _ => {
            let t = match it {
                "tel" | "email" | "password" | "date" | "number" | "url" | "time"
                | "datetime-local" => it,
                _ => "text",
            };
            let extra = if f.field_type == "phone" {
                " maxlength=\"11\" inputmode=\"tel\""
            } else {
                ""
            };
            format!("<div class=\"f\"><label for=\"{id}\">{label}{star}</label><input type=\"{t}\" id=\"{id}\" name=\"{name}\"{ph}{extra}{req}></div>")
        }
    }
}

/// One self-contained HTML page rendering the preset's fields as a mobile form.
pub fn render(p: &Preset) -> String {
    let title = p
        .requirement
        .clone()
        .unwrap_or_else(|| p.industry_display.clone());
    let submit = p
        .fields
        .iter()
        .find(|f| f.field_type == "submit" || f.tag == "button")
        .map(|f| f.label.clone())
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| "提交".to_string());
    let body: String = p
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_html(i, f))
        .collect::<Vec<_>>()
        .join("\n");
    let sub = match p.source.as_str() {
        "seed" => format!(
            "{} · 默认字段 (no confirmed pages yet)",
            escape(&p.industry_display)
        ),
        _ => format!(
            "{} · 来自 {} 个已确认页面 (from {} confirmed pages)",
            escape(&p.industry_display),
            p.n_pages,
            p.n_pages
        ),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1, maximum-scale=1\">\n\
<meta name=\"generator\" content=\"yuxuan {format}\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
<h1>{t}</h1>\n<p class=\"sub\">{sub}</p>\n<form onsubmit=\"return false\">\n{body}\n<button type=\"submit\">{s}</button>\n</form>\n</main>\n</body>\n</html>\n",
        format = escape(&p.format),
        t = escape(&title),
        s = escape(&submit),
    )
}
