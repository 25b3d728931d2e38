"""Checks YAML files against dltrain's JSON Schema with the `jsonschema` package (draft 2020-12).
Usage: schema_check.py SCHEMA --valid FILE... --invalid FILE...
README.md among the valid files stands for its ```yaml blocks that start with `# spec:`.
Prints each file that is not as expected (with the validator's messages); exits 1 if any."""
import json
import sys

import yaml
from jsonschema import Draft202012Validator

schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
expect, wrong = None, 0


def documents(path):
    text = open(path).read()
    if not path.endswith(".md"):
        return [(path, yaml.safe_load(text))]
    blocks = text.split("```yaml\n")[1:]
    return [(path + " block " + str(i), yaml.safe_load(b.split("```")[0]))
            for i, b in enumerate(blocks) if b.startswith("# spec:")]


for arg in sys.argv[2:]:
    if arg in ("--valid", "--invalid"):
        expect = arg == "--valid"
        continue
    for name, doc in documents(arg):
        errors = list(validator.iter_errors(doc))
        if bool(errors) == expect:
            wrong += 1
            print(name, "refused:" if errors else "accepted, but dltrain refuses it",
                  "; ".join(e.message[:200] for e in errors[:3]))
        else:
            print(name, "refused" if errors else "valid")
sys.exit(1 if wrong else 0)
