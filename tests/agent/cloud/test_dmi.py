from agent.cloud.dmi import AZURE_ASSET_TAG, on_azure_vm


def test_azure_asset_tag_means_azure(tmp_path):
    (tmp_path / "chassis_asset_tag").write_text(AZURE_ASSET_TAG + "\n")
    assert on_azure_vm(str(tmp_path)) is True


def test_other_tag_or_no_table_is_not_azure(tmp_path):
    assert on_azure_vm(str(tmp_path)) is False
    (tmp_path / "chassis_asset_tag").write_text("No Asset Tag\n")
    assert on_azure_vm(str(tmp_path)) is False
