"""The custom-profile merge keeps what it had when a file turns bad (pure, no I/O)."""

from __future__ import annotations

from temper.profiles.builtins import builtin_profiles
from temper.profiles.loader import merge_profiles

GOOD = "name: shop\nversion: 1\ngroups:\n  - name: w\n    treatment: latency\n    comm: {prefix: w-}\n"
BAD = "name: shop\nversion: 2\ngroups:\n  - name: w\n    treatment: turbo\n    comm: {prefix: w-}\n"


def test_a_bad_file_keeps_the_previous_good_profile_and_reports_the_line() -> None:
    builtins = builtin_profiles()
    first = merge_profiles({}, {"shop.yaml": GOOD}, builtins)
    assert first.errors == () and first.by_file["shop.yaml"].version == 1
    second = merge_profiles(first.by_file, {"shop.yaml": BAD}, builtins)
    assert second.by_file["shop.yaml"].version == 1
    assert second.errors and second.errors[0].startswith("shop.yaml:5: unknown treatment")
    assert "shop" in second.profiles(builtins) and "mysql" in second.profiles(builtins)


def test_a_custom_profile_cannot_shadow_a_builtin_or_a_removed_file_is_dropped() -> None:
    builtins = builtin_profiles()
    shadow = merge_profiles({}, {"x.yaml": GOOD.replace("shop", "mysql")}, builtins)
    assert shadow.by_file == {} and "shadows a builtin" in shadow.errors[0]
    first = merge_profiles({}, {"shop.yaml": GOOD}, builtins)
    assert merge_profiles(first.by_file, {}, builtins).by_file == {}
