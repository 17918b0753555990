"""The dead-code gate in `make lint` reports code nothing uses, and nothing a framework uses."""

from textwrap import dedent

from acd_devkit import deadcode


def test_unused_code_is_reported_and_framework_uses_are_not(tmp_path):
    package = tmp_path / "layers" / "shared" / "acd_hub"
    package.mkdir(parents=True)
    (package / "things.py").write_text(
        dedent(
            """
            from pydantic import BaseModel
            from pydantic.json_schema import GenerateJsonSchema


            class Base(BaseModel):
                agentid: int


            class AgentState(Base):
                state: str

                def describe(self) -> str:
                    return self.state


            class Schema(GenerateJsonSchema):
                def nullable_schema(self, schema):
                    return schema


            def forgotten_helper() -> int:
                return 1


            print(AgentState, Schema)
            """
        )
    )
    found = deadcode.unused(tmp_path)
    assert any("forgotten_helper" in line for line in found), found
    assert any("describe" in line for line in found), found  # a model's methods are still checked
    assert not any(name in line for line in found for name in ("agentid", "'state'", "nullable_schema"))
