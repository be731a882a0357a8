#!/usr/bin/env python3
"""Prints template.yaml's AWS::Glue::Table resources from the generated Athena DDL
(infra/athena/<table>.sql, itself generated from shared/core/src/lake.rs). After a column change:
`make ddl`, then replace the GlueTable* resources in template.yaml with this output.
tests/infra/test_template.py fails until the two agree. Standard library only."""
import json
import pathlib
import re

ATHENA = pathlib.Path(__file__).resolve().parent / "athena"
LITERAL = r"'((?:[^'\\]|\\.)*)'"


def unhive(text):
    return re.sub(r"\\(.)", r"\1", text)


def q(text):
    return json.dumps(text, ensure_ascii=False)


def table_yaml(path):
    sql = path.read_text()
    name = path.stem
    body, rest = sql.split("\n)\n", 1)
    columns = re.findall(rf"^  `(\w+)` (\S+) COMMENT {LITERAL},?$", body, re.M)
    partitions = re.findall(rf"^  `(\w+)` (\S+) COMMENT {LITERAL},?$", re.search(r"PARTITIONED BY \(\n(.*?)\n\)", rest, re.S).group(1), re.M)
    doc = unhive(re.search(rf"^COMMENT {LITERAL}$", rest, re.M).group(1))
    props = re.findall(rf"^  '([\w.]+)' = {LITERAL},?$", rest, re.M)
    out = [
        f"  GlueTable{''.join(p.capitalize() for p in name.split('_'))}:",
        "    Type: AWS::Glue::Table",
        "    Properties:",
        "      CatalogId: !Ref AWS::AccountId",
        "      DatabaseName: !Ref GlueDatabase",
        "      TableInput:",
        f"        Name: {name}",
        f"        Description: {q(doc)}",
        "        TableType: EXTERNAL_TABLE",
        "        Parameters:",
        '          EXTERNAL: "TRUE"',
    ]
    for k, v in props:
        v = unhive(v)
        if "${LakeBucket}" in v:
            # In !Sub, ${!dt} is the literal ${dt} partition projection fills in.
            out.append(f"          {k}: !Sub {q(v.replace('${dt}', '${!dt}').replace('${hour}', '${!hour}'))}")
        else:
            out.append(f"          {k}: {q(v)}")
    out.append("        PartitionKeys:")
    out += [f"          - {{ Name: {n}, Type: {t}, Comment: {q(unhive(c))} }}" for n, t, c in partitions]
    out += [
        "        StorageDescriptor:",
        f'          Location: !Sub "s3://${{LakeBucket}}/{name}/"',
        f"          InputFormat: {re.search(rf'^STORED AS INPUTFORMAT {LITERAL}$', rest, re.M).group(1)}",
        f"          OutputFormat: {re.search(rf'^OUTPUTFORMAT {LITERAL}$', rest, re.M).group(1)}",
        "          SerdeInfo:",
        f"            SerializationLibrary: {re.search(rf'^ROW FORMAT SERDE {LITERAL}$', rest, re.M).group(1)}",
        "          Columns:",
    ]
    out += [f"            - {{ Name: {n}, Type: {q(t) if '<' in t else t}, Comment: {q(unhive(c))} }}" for n, t, c in columns]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    order = ["tailscale_audit", "tailscale_network", "tailscale_nodes", "tailwatch_alerts", "tailwatch_quarantine"]
    paths = sorted(ATHENA.glob("*.sql"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    print("\n".join(table_yaml(p) for p in paths), end="")
