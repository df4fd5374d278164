"""Offline SAM transform and a small CloudFormation evaluator for the tests.

`transform(template)` runs the SAM translator as `sam deploy` would (local
CodeUri replaced by an S3 placeholder, no AWS calls). `Stack(transformed,
parameters)` then does what CloudFormation does with parameter values:
evaluates the Conditions (and, on request, the Rules), drops resources
whose condition is false, and resolves Ref, Fn::GetAtt, Fn::If, Fn::Sub,
Fn::Select, Fn::Split, Fn::Join and AWS::NoValue, so a test sees the
properties one deployment would get.

References to resources stay symbolic: `ref:Id` and `getatt:Id.Attribute`.
A reference to a resource that does not exist under the given parameters
raises `Unresolvable` (CloudFormation would reject the template).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "orders",
    "AWS::URLSuffix": "amazonaws.com",
}


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Unresolvable(Exception):
    """The template cannot be resolved with the given parameters."""


def load_template(path: str) -> dict:
    from samtranslator.yaml_helper import yaml_parse

    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


def transform(template: dict, region: str = "us-east-1") -> dict:
    """The SAM transform, offline."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # The translator only accepts S3 locations; `sam build` would
            # replace the local path with the built artifact.
            resource.setdefault("Properties", {})["CodeUri"] = "s3://bucket/key"
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    # The translator's usage metrics are never published offline; its
    # warning about them is noise.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    return translator.translate(sam_template=template, parameter_values={}, passthrough_metadata=True)


def _is_intrinsic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and (
        next(iter(node)) in ("Ref", "Condition") or next(iter(node)).startswith("Fn::")
    )


class Stack:
    """The resources and outputs of one deployment of a (transformed) template."""

    def __init__(self, template: dict, parameters: dict[str, Any] | None = None):
        self.template = template
        self.parameters = self._parameter_values(parameters or {})
        self._condition_values: dict[str, bool] = {}
        declared = template.get("Resources", {})
        self._present = {
            logical_id
            for logical_id, resource in declared.items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }
        self.resources: dict[str, dict] = {}
        for logical_id in sorted(self._present):
            resource = declared[logical_id]
            resolved = {k: v for k, v in resource.items() if k not in ("Properties", "Condition")}
            resolved["Properties"] = self.resolve(resource.get("Properties", {}), where=logical_id)
            for dependency in _as_list(resource.get("DependsOn", [])):
                if dependency not in self._present:
                    raise Unresolvable(f"{logical_id} depends on {dependency}, which does not exist")
            self.resources[logical_id] = resolved
        self.outputs = {
            name: self.resolve(output.get("Value"), where=f"Outputs.{name}")
            for name, output in template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    # ------------------------------------------------------------ parameters

    def _parameter_values(self, given: dict[str, Any]) -> dict[str, str]:
        declared = self.template.get("Parameters", {})
        unknown = set(given) - set(declared)
        if unknown:
            raise Unresolvable(f"unknown parameters: {sorted(unknown)}")
        values = {}
        for name, spec in declared.items():
            if name in given:
                value = str(given[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise Unresolvable(f"parameter {name} has no default and no value")
            self._check_parameter(name, spec, value)
            values[name] = value
        return values

    @staticmethod
    def _check_parameter(name: str, spec: dict, value: str) -> None:
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise Unresolvable(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise Unresolvable(f"parameter {name}={value!r} does not match {pattern}")
        if spec.get("Type") == "Number":
            number = float(value)
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise Unresolvable(f"parameter {name}={value} is below {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise Unresolvable(f"parameter {name}={value} is above {spec['MaxValue']}")

    # ------------------------------------------------------------ conditions

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise Unresolvable(f"unknown condition {name}")
            self._condition_values[name] = self._evaluate(definitions[name])
        return self._condition_values[name]

    def _evaluate(self, node: Any) -> bool:
        if not _is_intrinsic(node):
            raise Unresolvable(f"not a condition: {node!r}")
        (function, args), = node.items()
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (self.resolve(a, where="Conditions") for a in args)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        if function == "Fn::And":
            return all(self._evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(self._evaluate(a) for a in args)
        if function == "Fn::Contains":
            # Rules only: a list of strings holds a value.
            candidates, value = args
            return str(self.resolve(value, where="Rules")) in [str(c) for c in self.resolve(candidates, where="Rules")]
        raise Unresolvable(f"unsupported condition function {function}")

    # ----------------------------------------------------------------- rules

    def rule_failures(self) -> list[str]:
        """The AssertDescription of every assertion of the template's Rules
        that these parameters fail: CloudFormation refuses the deployment
        before changing anything."""
        failures = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._evaluate(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._evaluate(assertion["Assert"]):
                    failures.append(f"{name}: {' '.join(assertion.get('AssertDescription', '').split())}")
        return failures

    # ------------------------------------------------------------ intrinsics

    def resolve(self, node: Any, where: str = "") -> Any:
        if isinstance(node, list):
            items = [self.resolve(item, where) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if not _is_intrinsic(node):
            items = {key: self.resolve(value, where) for key, value in node.items()}
            return {key: value for key, value in items.items() if value is not NO_VALUE}
        (function, args), = node.items()
        if function == "Ref":
            return self._ref(args, where)
        if function == "Fn::GetAtt":
            logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
            self._require(logical_id, where)
            return f"getatt:{logical_id}.{attribute}"
        if function == "Fn::If":
            name, if_true, if_false = args
            return self.resolve(if_true if self.condition(name) else if_false, where)
        if function == "Fn::Sub":
            return self._sub(args, where)
        if function == "Fn::Select":
            index, items = args
            items = self.resolve(items, where)
            return items[int(self.resolve(index, where))]
        if function == "Fn::Split":
            delimiter, text = args
            return str(self.resolve(text, where)).split(delimiter)
        if function == "Fn::Join":
            delimiter, items = args
            return delimiter.join(str(i) for i in self.resolve(items, where))
        raise Unresolvable(f"{where}: unsupported intrinsic {function}")

    def _ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        self._require(name, where)
        return f"ref:{name}"

    def _require(self, logical_id: str, where: str) -> None:
        if logical_id not in self._present:
            raise Unresolvable(f"{where} refers to {logical_id}, which does not exist with {self.parameters}")

    def _sub(self, args: Any, where: str) -> str:
        if isinstance(args, list):
            text, variables = args
            variables = {k: self.resolve(v, where) for k, v in variables.items()}
        else:
            text, variables = args, {}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.template.get("Resources", {}):
                logical_id, attribute = name.split(".", 1)
                self._require(logical_id, where)
                return f"getatt:{logical_id}.{attribute}"
            return str(self._ref(name, where))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # --------------------------------------------------------------- queries

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
