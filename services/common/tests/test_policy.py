"""Per-region policy: county over city over province, merged once per region."""
from services.common.config import Policy

DATA = {
    "intake": {"accept_within": {"working_days": 1}, "auto_accept_channels": ["patrol"]},
    "time_limits": {"default": {"normal": {"working_days": 10}}},
    "regions": {
        "610000": {"intake": {"accept_within": {"working_days": 2}}},
        "610100": {"time_limits": {"default": {"normal": {"working_days": 7}}}},
        "610113": {"intake": {"auto_accept_channels": []}},
    },
}


def test_county_over_city_over_province():
    rules = Policy(DATA).for_region("610113")
    assert rules["intake"] == {"accept_within": {"working_days": 2}, "auto_accept_channels": []}
    assert rules["time_limits"]["default"]["normal"] == {"working_days": 7}
    assert "regions" not in rules
    elsewhere = Policy(DATA).for_region("360323")
    assert elsewhere["intake"]["accept_within"] == {"working_days": 1}
    assert elsewhere["time_limits"]["default"]["normal"] == {"working_days": 10}


def test_merged_once_per_region_without_touching_the_source():
    policy = Policy(DATA)
    first = policy.for_region("610113001")  # a grid code inside the county
    assert policy.for_region("610113") is first
    assert policy.for_region("610100") is not first
    assert DATA["intake"]["accept_within"] == {"working_days": 1}
    assert DATA["regions"]["610113"] == {"intake": {"auto_accept_channels": []}}
