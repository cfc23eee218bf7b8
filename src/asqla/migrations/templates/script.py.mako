<%!
    # A revision written from this template passes `mypy --strict` and `ruff
    # check` as it is: only the imports its code uses, sorted as ruff's isort
    # sorts them, and strings in double quotes. The operations keep Alembic's
    # layout; `asqla migrations new` runs `ruff format` on the revision when
    # ruff is installed.
    import re
    import sys


    def import_block(extra, code):
        """The imports of a revision: stdlib, then third-party, each sorted as isort sorts."""
        lines = {line.strip() for line in extra.splitlines() if line.strip()}
        if re.search(r"\bsa\.", code):
            lines.add("import sqlalchemy as sa")
        if re.search(r"\bop\.", code):
            lines.add("from alembic import op")
        stdlib, third_party = ["from collections.abc import Sequence"], []
        for line in _merged(lines):
            top = line.split()[1].split(".")[0]
            (stdlib if top in sys.stdlib_module_names else third_party).append(line)
        sections = [_sorted(stdlib), _sorted(third_party)]
        return "\n\n".join("\n".join(section) for section in sections if section)


    def _merged(lines):
        # "from m import a" and "from m import b" are one import for isort.
        names = {}
        for line in lines:
            found = re.fullmatch(r"from (\S+) import (.+)", line)
            if found:
                names.setdefault(found[1], set()).update(
                    name.strip() for name in found[2].split(",")
                )
            else:
                yield line
        for module, imported in names.items():
            yield f"from {module} import {', '.join(sorted(imported, key=_member))}"


    def _member(name):
        # isort's order-by-type: CONSTANTS, then Classes, then the rest.
        kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
        return kind, name.lower()


    def _sorted(section):
        # Straight imports first, then from-imports, each by module name.
        return sorted(section, key=lambda line: (line.startswith("from "), line.split()[1].lower()))


    def literal(value):
        """``repr(value)``, with its strings in double quotes as ruff formats them."""
        if isinstance(value, (tuple, list)):
            items = [literal(item) for item in value]
            if isinstance(value, list):
                return "[" + ", ".join(items) + "]"
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        text = repr(value)
        if text.startswith("'") and '"' not in text:
            return '"' + text[1:-1] + '"'
        return text
%>"""${message}

Revision ID: ${up_revision}
Revises:${" " + comma(down_revision) if down_revision else ""}
Create Date: ${create_date}
"""

${import_block(imports or "", (upgrades or "") + "\n" + (downgrades or ""))}

revision: str = ${literal(up_revision)}
down_revision: str | Sequence[str] | None = ${literal(down_revision)}
branch_labels: str | Sequence[str] | None = ${literal(branch_labels)}
depends_on: str | Sequence[str] | None = ${literal(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
