//! PLACEHOLDER (owned by the PostgreSQL helper's branch, which replaces this file): a task file
//! with its secrets replaced, for the admin API's answers. Written so the admin API never
//! returns a password while the real one is on its way.

/// What replaces a secret.
const HIDDEN: &str = "***";

/// The task file `text` with every password replaced: the URL's password, `sasl_password`, and
/// raw properties whose name mentions a password or secret. Text that is not TOML is replaced
/// whole (it cannot be told what in it is secret).
pub fn redact_toml(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml::Table>() else {
        return HIDDEN.to_owned();
    };
    if let Some(toml::Value::Table(src)) = doc.get_mut("source") {
        if let Some(toml::Value::String(url)) = src.get_mut("url") {
            *url = redact_url(url);
        }
    }
    if let Some(toml::Value::Table(dst)) = doc.get_mut("destination") {
        if let Some(v) = dst.get_mut("sasl_password") {
            *v = toml::Value::String(HIDDEN.into());
        }
        if let Some(toml::Value::Table(props)) = dst.get_mut("properties") {
            for (k, v) in props.iter_mut() {
                if k.contains("password") || k.contains("secret") || k.contains("sasl.jaas") {
                    *v = toml::Value::String(HIDDEN.into());
                }
            }
        }
    }
    toml::to_string(&doc).unwrap_or_else(|_| HIDDEN.to_owned())
}

/// `scheme://user:secret@host` → `scheme://user:***@host`; `password=` parameters too.
fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        if let Some(at) = out[rest..].find('@').map(|i| rest + i) {
            if let Some(colon) = out[rest..at].find(':').map(|i| rest + i) {
                out.replace_range(colon + 1..at, HIDDEN);
            }
        }
    }
    if let Some(p) = out.find("password=") {
        let start = p + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |i| start + i);
        out.replace_range(start..end, HIDDEN);
    }
    out
}
