"""Suite-wide settings: a hypothesis profile tuned for 2-core CI machines (no deadlines:
timing is measured by benchmarks/, never asserted in tests)."""

from hypothesis import HealthCheck, settings

settings.register_profile("temper", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("temper")
