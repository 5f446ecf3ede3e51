from agent.deadline import Deadline


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_remaining_cap_and_expiry_on_an_injected_clock():
    clock = Clock()
    d = Deadline(5, clock)
    assert d.cap(2) == 2
    clock.now += 4
    assert d.remaining() == 1
    assert d.cap(2) == 1
    clock.now += 2
    assert d.expired() and d.remaining() == 0
    assert d.cap(2) == 0.05  # never 0: a socket timeout of 0 would mean non-blocking


def test_child_never_outlives_its_parent():
    clock = Clock()
    d = Deadline(5, clock)
    clock.now += 1
    assert d.child(3).remaining() == 3
    clock.now += 3
    assert d.child(3).remaining() == 1
