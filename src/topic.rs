//! Topic names: derived and cleaned in one place, so the topics a task creates are exactly the
//! topics its records go to.

/// The topic of a table's records: `destination.topic` when set, else
/// `<task>.<schema>.<table>` with every character Kafka does not allow in a topic name
/// (anything but ASCII letters, digits, `.`, `_` and `-`) replaced by `_`, as Debezium's topic
/// naming does.
pub fn table_topic(task: &str, topic_override: Option<&str>, schema: &str, table: &str) -> String {
    if let Some(t) = topic_override {
        return t.to_owned();
    }
    let mut out = String::with_capacity(task.len() + schema.len() + table.len() + 2);
    for part in [task, ".", schema, ".", table] {
        out.extend(part.chars().map(clean));
    }
    out
}

fn clean(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
        c
    } else {
        '_'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_the_override_wins() {
        assert_eq!(
            table_topic("shop", None, "public", "orders"),
            "shop.public.orders"
        );
        assert_eq!(
            table_topic("shop", None, "My Schema", "a\"b$ü"),
            "shop.My_Schema.a_b__"
        );
        assert_eq!(table_topic("shop", Some("all"), "public", "x"), "all");
    }
}
