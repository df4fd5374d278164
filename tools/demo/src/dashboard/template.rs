//! The SAM template, read just enough to find the dashboard and give its
//! `!Sub` placeholders readable local values: a line scanner over the
//! template's two top-level maps (`Parameters`, `Resources`), not a YAML
//! parser.

use std::collections::BTreeMap;

/// The local values of the placeholders that are not resources or
/// parameters of the template.
#[derive(Debug, Clone)]
pub struct Locals {
    /// Stands for `AWS::StackName`.
    pub stack: String,
    /// Stands for `AWS::Region`.
    pub region: String,
    /// Any placeholder by its text, e.g. `DeadLetterQueue.QueueName`;
    /// these win over what the template says.
    pub values: BTreeMap<String, String>,
}

/// One entry of a top-level map: its name and the lines indented under it.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    lines: Vec<String>,
}

impl Entry {
    /// The value of the first `key: value` line under the entry.
    fn field(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}:");
        self.lines.iter().find_map(|line| {
            let rest = line.trim_start().strip_prefix(&prefix)?;
            Some(unquote(rest.trim()).to_owned())
        })
    }

    /// The text of a block scalar (`key: !Sub |` then indented lines).
    fn block(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}:");
        let start = self.lines.iter().position(|l| {
            let rest = l.trim_start().strip_prefix(&prefix);
            rest.is_some_and(|r| r.trim_end().ends_with('|') || r.trim_end().ends_with("|-"))
        })?;
        let indent = indentation(&self.lines[start]);
        let body: Vec<&str> = self.lines[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indentation(l) > indent)
            .map(String::as_str)
            .collect();
        Some(body.join("\n"))
    }
}

/// The dashboard a template deploys: its name and its body, placeholders
/// replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    pub resource: String,
    pub name: String,
    pub body: String,
}

/// What the template says about its parameters and resources.
#[derive(Debug, Clone)]
pub struct Template {
    parameters: Vec<Entry>,
    resources: Vec<Entry>,
}

impl Template {
    pub fn parse(text: &str) -> Self {
        Self {
            parameters: section(text, "Parameters"),
            resources: section(text, "Resources"),
        }
    }

    /// The first `AWS::CloudWatch::Dashboard` resource, its `!Sub` text
    /// with every placeholder replaced.
    pub fn dashboard(&self, locals: &Locals) -> Result<Dashboard, String> {
        let resource = self
            .resources
            .iter()
            .find(|r| r.field("Type").as_deref() == Some("AWS::CloudWatch::Dashboard"))
            .ok_or("the template has no AWS::CloudWatch::Dashboard resource")?;
        let body = resource
            .block("DashboardBody")
            .ok_or_else(|| format!("{}: DashboardBody is not a `!Sub |` block", resource.name))?;
        let name = resource.field("DashboardName").unwrap_or_default();
        let name = name.strip_prefix("!Sub").unwrap_or(&name).trim();
        Ok(Dashboard {
            resource: resource.name.clone(),
            name: self.substitute(unquote(name), locals),
            body: self.substitute(&body, locals),
        })
    }

    /// `text` with each `${...}` replaced by its local value; `${!x}` is
    /// the literal `${x}`, as in `Fn::Sub`.
    pub fn substitute(&self, text: &str, locals: &Locals) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            match name.strip_prefix('!') {
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None => out.push_str(&self.value(name, locals)),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The local value of one placeholder.
    fn value(&self, name: &str, locals: &Locals) -> String {
        if let Some(value) = locals.values.get(name) {
            return value.clone();
        }
        match name {
            "AWS::StackName" => return locals.stack.clone(),
            "AWS::Region" => return locals.region.clone(),
            _ => {}
        }
        self.parameter(name)
            .or_else(|| self.function_name(name))
            .or_else(|| self.log_group_name(name))
            .unwrap_or_else(|| name.to_owned())
    }

    fn parameter(&self, name: &str) -> Option<String> {
        let parameter = self.parameters.iter().find(|p| p.name == name)?;
        Some(
            parameter
                .field("Default")
                .unwrap_or_else(|| format!("<{name}>")),
        )
    }

    fn resource(&self, name: &str) -> Option<&Entry> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// A function is called by its binary, as it runs locally.
    fn function_name(&self, name: &str) -> Option<String> {
        let function = self.resource(name)?;
        let kind = function.field("Type")?;
        if kind != "AWS::Serverless::Function" && kind != "AWS::Lambda::Function" {
            return None;
        }
        function.field("Binary").or_else(|| Some(name.to_owned()))
    }

    /// A log group is the Lambda default of the function that logs to it.
    fn log_group_name(&self, name: &str) -> Option<String> {
        let reference = format!("!Ref {name}");
        let function = self
            .resources
            .iter()
            .find(|r| r.field("LogGroup").as_deref() == Some(reference.as_str()))?;
        let binary = self.function_name(&function.name)?;
        Some(crate::samples::log_group(&binary))
    }
}

/// The entries of the top-level map `key`.
fn section(text: &str, key: &str) -> Vec<Entry> {
    let header = format!("{key}:");
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_end() != header)
        .skip(1)
        .take_while(|l| l.trim().is_empty() || l.starts_with(' ') || l.starts_with('#'));
    let mut entries: Vec<Entry> = Vec::new();
    let first = lines.find(|l| is_entry(l, None));
    let Some(first) = first else {
        return entries;
    };
    let indent = indentation(first);
    entries.push(entry(first));
    for line in lines {
        if is_entry(line, Some(indent)) {
            entries.push(entry(line));
        } else if let Some(current) = entries.last_mut() {
            current.lines.push(line.to_owned());
        }
    }
    entries
}

fn is_entry(line: &str, indent: Option<usize>) -> bool {
    let trimmed = line.trim();
    let keyed = trimmed.ends_with(':') && !trimmed.starts_with('#') && !trimmed.starts_with('-');
    keyed && indent.is_none_or(|i| indentation(line) == i)
}

fn entry(line: &str) -> Entry {
    Entry {
        name: line.trim().trim_end_matches(':').to_owned(),
        lines: Vec::new(),
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(text: &str) -> &str {
    let text = text.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FIXTURE: &str = r#"
Parameters:
  MetricsNamespace:
    Type: String
    Default: OrderEventsPipeline
  NoDefault:
    Type: String

Resources:
  # a comment
  EmailNotificationLogGroup:
    Type: AWS::Logs::LogGroup
  EmailNotificationFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: email-notification
    Properties:
      LoggingConfig:
        LogGroup: !Ref EmailNotificationLogGroup
  Board:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub "${AWS::StackName}-pipeline"
      DashboardBody: !Sub |
        {"widgets":[
          {"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"title":"${EmailNotificationFunction} in ${AWS::Region}","metrics":[["${MetricsNamespace}","RecordsReceived","FunctionName","${EmailNotificationFunction}"]]}},
          {"type":"log","x":12,"y":0,"width":12,"height":6,"properties":{"title":"${!Literal} ${NoDefault} ${DeadLetterQueue.QueueName} ${Other}","query":"SOURCE '${EmailNotificationLogGroup}' | stats count(*) by to"}}
        ]}

  After:
    Type: AWS::SQS::Queue
Outputs:
  Name:
    Value: x
"#;

    pub(crate) fn locals() -> Locals {
        Locals {
            stack: "demo".into(),
            region: "eu-west-1".into(),
            values: [("DeadLetterQueue.QueueName".to_owned(), "dlq-1".to_owned())].into(),
        }
    }

    #[test]
    fn placeholders_get_readable_local_values() {
        let dashboard = Template::parse(FIXTURE).dashboard(&locals()).unwrap();
        assert_eq!(dashboard.resource, "Board");
        assert_eq!(dashboard.name, "demo-pipeline");
        let body = &dashboard.body;
        assert!(
            body.contains(r#""title":"email-notification in eu-west-1""#),
            "{body}"
        );
        assert!(body.contains(
            r#"["OrderEventsPipeline","RecordsReceived","FunctionName","email-notification"]"#
        ));
        assert!(
            body.contains(r#""title":"${Literal} <NoDefault> dlq-1 Other""#),
            "{body}"
        );
        assert!(
            body.contains("SOURCE '/aws/lambda/email-notification'"),
            "{body}"
        );
        assert!(
            !body.contains("After"),
            "the block ends with its indentation"
        );
        let widgets: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(widgets["widgets"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_project_template_has_a_dashboard_without_placeholders_left() {
        let template = Template::parse(super::super::TEMPLATE);
        let dashboard = template.dashboard(&locals()).unwrap();
        assert!(!dashboard.body.contains("${"), "{}", dashboard.body);
        assert!(dashboard.body.contains("order-saga-sweep"));
        serde_json::from_str::<serde_json::Value>(&dashboard.body).unwrap();
    }

    #[test]
    fn a_template_without_a_dashboard_says_so() {
        let err = Template::parse("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n")
            .dashboard(&locals())
            .unwrap_err();
        assert!(err.contains("no AWS::CloudWatch::Dashboard"), "{err}");
    }
}
