"""Helpers for the infra tests: template.yaml through cfn-lint's own YAML loader (so !Ref, !Sub,
!GetAtt … arrive as {"Ref": …}, {"Fn::Sub": …}, {"Fn::GetAtt": […]}), and the generated Athena DDL
in infra/athena/*.sql parsed back into columns and table properties."""
import pathlib
import re

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ATHENA = ROOT / "infra" / "athena"
QUERIES = ATHENA / "queries"


def load_template() -> dict:
    return cfn_yaml.loads(TEMPLATE.read_text())


def resources(template: dict, type_: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def unhive(text: str) -> str:
    """The value of a Hive single-quoted string literal's body (backslash escapes)."""
    return re.sub(r"\\(.)", r"\1", text)


_LITERAL = r"'((?:[^'\\]|\\.)*)'"


def athena_tables() -> dict:
    """{table: {"columns": [(name, type, comment)], "partitions": [...], "comment", "location",
    "properties": {k: v}}} from infra/athena/<table>.sql."""
    tables = {}
    for path in sorted(ATHENA.glob("*.sql")):
        sql = path.read_text()
        name = re.search(r"^CREATE EXTERNAL TABLE IF NOT EXISTS `(\w+)` \($", sql, re.M).group(1)
        assert name == path.stem, f"{path} creates {name}"
        body, rest = sql.split("\n)\n", 1)
        columns = [(n, t, unhive(c)) for n, t, c in re.findall(rf"^  `(\w+)` (\S+) COMMENT {_LITERAL},?$", body, re.M)]
        partitions_sql = re.search(r"PARTITIONED BY \(\n(.*?)\n\)", rest, re.S).group(1)
        partitions = [(n, t, unhive(c)) for n, t, c in re.findall(rf"^  `(\w+)` (\S+) COMMENT {_LITERAL},?$", partitions_sql, re.M)]
        props = {k: unhive(v) for k, v in re.findall(rf"^  '([\w.]+)' = {_LITERAL},?$", rest, re.M)}
        tables[name] = {
            "columns": columns,
            "partitions": partitions,
            "comment": unhive(re.search(rf"^COMMENT {_LITERAL}$", rest, re.M).group(1)),
            "location": re.search(rf"^LOCATION {_LITERAL}$", rest, re.M).group(1),
            "serde": re.search(rf"^ROW FORMAT SERDE {_LITERAL}$", rest, re.M).group(1),
            "input_format": re.search(rf"^STORED AS INPUTFORMAT {_LITERAL}$", rest, re.M).group(1),
            "output_format": re.search(rf"^OUTPUTFORMAT {_LITERAL}$", rest, re.M).group(1),
            "properties": props,
        }
    return tables


# Athena column type -> the DuckDB type the saved-query tests read the same column as.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "array<string>": "VARCHAR[]",
}
