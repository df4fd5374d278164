//! The part of Logs Insights a dashboard's log widget needs here: `SOURCE`
//! groups, `fields`, a `filter` of `field = "value"` alternatives and
//! `stats count(*) by field, bin(...)`, evaluated over the run's log lines.
//! Anything else is reported, not guessed.

use crate::samples::{LogLine, Sample};

/// A query this module can evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub sources: Vec<String>,
    /// `(field, value)` alternatives; empty keeps every line.
    pub filter: Vec<(String, String)>,
    /// The field counted by.
    pub by: String,
    /// The time bin, as written (`bin(5m)`).
    pub bin: Option<String>,
}

impl Query {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut query = Query {
            sources: Vec::new(),
            filter: Vec::new(),
            by: String::new(),
            bin: None,
        };
        for command in text.split('|').map(str::trim) {
            query.command(command)?;
        }
        if query.by.is_empty() {
            return Err("no `stats count(*) by <field>`".to_owned());
        }
        Ok(query)
    }

    fn command(&mut self, command: &str) -> Result<(), String> {
        let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
        match verb {
            "SOURCE" => self.sources.push(unquote(rest).to_owned()),
            "fields" | "sort" | "limit" => {}
            "filter" => self.filter = alternatives(rest)?,
            "stats" => (self.by, self.bin) = counted_by(rest)?,
            _ => return Err(format!("`{verb}` is not evaluated locally")),
        }
        Ok(())
    }

    fn keeps(&self, line: &LogLine) -> bool {
        let sourced = self.sources.is_empty() || self.sources.contains(&line.group);
        let filtered = self.filter.is_empty()
            || self
                .filter
                .iter()
                .any(|(field, value)| line.fields.get(field) == Some(value));
        sourced && filtered
    }

    /// One series per value of the counted field: the values the filter
    /// names first, then any other, each line a data point of 1.
    pub fn series(&self, lines: &[LogLine]) -> Vec<(String, Vec<Sample>)> {
        let mut series: Vec<(String, Vec<Sample>)> = self
            .filter
            .iter()
            .filter(|(field, _)| *field == self.by)
            .map(|(_, value)| (value.clone(), Vec::new()))
            .collect();
        for line in lines.iter().filter(|l| self.keeps(l)) {
            let Some(value) = line.fields.get(&self.by) else {
                continue;
            };
            let point = Sample {
                at_ms: line.at_ms,
                value: 1.0,
            };
            match series.iter_mut().find(|(v, _)| v == value) {
                Some((_, points)) => points.push(point),
                None => series.push((value.clone(), vec![point])),
            }
        }
        series
    }
}

/// `to = "COMPLETED" or to = "FAILED"`.
fn alternatives(condition: &str) -> Result<Vec<(String, String)>, String> {
    condition
        .split(" or ")
        .map(|term| {
            let (field, value) = term
                .split_once('=')
                .filter(|(f, v)| !v.starts_with('=') && !f.ends_with(['!', '<', '>']))
                .ok_or_else(|| format!("filter `{}` is not evaluated locally", term.trim()))?;
            Ok((field.trim().to_owned(), unquote(value).to_owned()))
        })
        .collect()
}

/// `count(*) by to, bin(5m)`: the field, and the time bin.
fn counted_by(stats: &str) -> Result<(String, Option<String>), String> {
    let unsupported = || format!("stats `{stats}` is not evaluated locally");
    let groups = stats
        .trim()
        .strip_prefix("count(*) by ")
        .ok_or_else(unsupported)?;
    let (bins, fields): (Vec<&str>, Vec<&str>) = groups
        .split(',')
        .map(str::trim)
        .partition(|g| g.starts_with("bin("));
    match (fields.as_slice(), bins.as_slice()) {
        ([field], [] | [_]) => Ok(((*field).to_owned(), bins.first().map(|b| (*b).to_owned()))),
        _ => Err(unsupported()),
    }
}

fn unquote(text: &str) -> &str {
    text.trim().trim_matches(|c| c == '\'' || c == '"')
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTCOMES: &str = r#"SOURCE '/aws/lambda/a' | SOURCE '/aws/lambda/b' | fields @timestamp, to | filter to = "COMPLETED" or to = "FAILED" | stats count(*) by to, bin(5m)"#;

    fn line(group: &str, at_ms: i64, to: &str) -> LogLine {
        LogLine {
            group: group.to_owned(),
            at_ms,
            fields: [("to".to_owned(), to.to_owned())].into(),
        }
    }

    #[test]
    fn the_outcomes_query_parses() {
        let query = Query::parse(OUTCOMES).unwrap();
        assert_eq!(query.sources, ["/aws/lambda/a", "/aws/lambda/b"]);
        assert_eq!(query.by, "to");
        assert_eq!(query.bin.as_deref(), Some("bin(5m)"));
        assert_eq!(query.filter.len(), 2);
        assert_eq!(query.filter[1], ("to".into(), "FAILED".into()));
    }

    #[test]
    fn lines_are_counted_per_value_from_the_sources_only() {
        let query = Query::parse(OUTCOMES).unwrap();
        let lines = [
            line("/aws/lambda/a", 1, "COMPLETED"),
            line("/aws/lambda/b", 2, "COMPLETED"),
            line("/aws/lambda/c", 3, "COMPLETED"),
            line("/aws/lambda/a", 4, "RUNNING"),
        ];
        let series = query.series(&lines);
        let counts: Vec<(&str, usize)> =
            series.iter().map(|(v, p)| (v.as_str(), p.len())).collect();
        assert_eq!(counts, [("COMPLETED", 2), ("FAILED", 0)]);
    }

    #[test]
    fn what_is_not_evaluated_is_named() {
        let err =
            Query::parse("fields x | parse @message 'a*b' as c | stats count(*) by c").unwrap_err();
        assert!(err.contains("`parse`"), "{err}");
        let err = Query::parse("stats avg(x) by y").unwrap_err();
        assert!(err.contains("avg(x)"), "{err}");
        assert!(Query::parse("fields x").is_err());
        assert!(Query::parse(r#"filter to != "X" | stats count(*) by to"#).is_err());
    }
}
