from slowvae.text import count


def test_count_says_one_in_the_singular():
    assert count(1, "run") == "1 run"
    assert count(0, "run") == "0 runs" and count(2, "record") == "2 records"
    assert count(1, "run directory", "run directories") == "1 run directory"
    assert count(3, "run directory", "run directories") == "3 run directories"
    assert count(12000, "pair") == "12,000 pairs"
