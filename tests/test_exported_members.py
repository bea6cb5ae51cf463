import edgeops


def test_all_is_exact_and_importable():
    assert set(edgeops.__all__) == set(edgeops._LAZY) | {"__version__", "gate"}
    assert dir(edgeops) == sorted(edgeops.__all__)
    for name in edgeops.__all__:
        assert getattr(edgeops, name) is not None
