import pytest

from edgeops.devices.inventory import cpu_set, read_inventory
from edgeops.errors import UsageError


def test_inventory_devices_carry_host_and_pinning(tmp_path):
    inv = tmp_path / "devices.toml"
    inv.write_text(
        '[[device]]\nname = "pi-a"\ntransport = "ssh"\naddress = "127.0.0.1:2222"\nuser = "pi"\n'
        'key = "~/k"\nprofile = "rpi5"\nhost = "rack"\ncpus = "0-1,3"\nlabels = { room = "lab" }\n'
    )
    (d,) = read_inventory(inv)
    assert d.id == "pi-a" and d.transport == "ssh" and d.profile_id == "rpi5"
    assert d.labels == {"room": "lab", "host": "rack", "cpus": "0-1,3"}
    assert cpu_set(d) == {0, 1, 3} and d.key_path is not None and d.key_path.name == "k"


@pytest.mark.parametrize(
    "body, message",
    [
        ('[[device]]\nname = "a"\ntransport = "ssh"\n', "lacks profile"),
        ('[[device]]\nname = "a"\ntransport = "pigeon"\nprofile = "p"\n', "transport"),
        ('[[device]]\nname = "a"\ntransport = "ssh"\nprofile = "p"\n' * 2, "used twice"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_inventories_name_the_problem(tmp_path, body, message):
    inv = tmp_path / "devices.toml"
    inv.write_text(body)
    with pytest.raises(UsageError, match=message):
        read_inventory(inv)


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [
        ('""', "names no core"),
        ('"a-b"', "is not a core or range"),
        ('"3-1"', "runs backwards"),
        ('"0-99999"', "is past 1023"),
        ('"1,"', None),
    ],
)
def test_bad_cpus_values_are_refused_when_the_inventory_is_read(tmp_path, cpus, expected):
    path = tmp_path / "devices.toml"
    path.write_text(f'[[device]]\nname = "b"\ntransport = "ssh"\nprofile = "rpi5"\ncpus = {cpus}\n')
    if expected is None:
        assert cpu_set(read_inventory(path)[0]) == frozenset({1})
        return
    with pytest.raises(UsageError, match=expected):
        read_inventory(path)


@pytest.mark.parametrize("threads", ['"many"', '"0"', '""', "-2"])
def test_bad_threads_values_are_refused_when_the_inventory_is_read(tmp_path, threads):
    path = tmp_path / "devices.toml"
    path.write_text(
        f'[[device]]\nname = "b"\ntransport = "ssh"\nprofile = "rpi5"\nthreads = {threads}\n'
    )
    with pytest.raises(UsageError, match=r"device #1: threads = .* is not a positive whole number"):
        read_inventory(path)
    path.write_text('[[device]]\nname = "b"\ntransport = "ssh"\nprofile = "rpi5"\nthreads = 2\n')
    assert read_inventory(path)[0].labels["threads"] == "2"
