import pytest

from pyiron_hub_config.parallelism import THREAD_VARIABLES, cpu_count_for, thread_environment


@pytest.mark.parametrize(("limit", "count"), [(0.1, 1), (0.5, 1), (1, 1), (1.01, 2), (2, 2), (3.5, 4), (64, 64)])
def test_count_is_the_limit_rounded_up_and_at_least_one(limit, count):
    assert cpu_count_for(limit) == count


def test_every_variable_gets_the_count():
    env = thread_environment(1.5)
    assert env == {name: "2" for name in THREAD_VARIABLES}
    # Python >= 3.13 reads PYTHON_CPU_COUNT; OpenMP and the BLAS libraries read theirs.
    assert {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PYTHON_CPU_COUNT"} <= set(env)
