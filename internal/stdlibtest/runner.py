# The guest half of the stdlib test runner: the prelude a fresh instance runs
# before its module and a snapshot's Setup runs once for its clones, so that
# both start the module from the same state. run() loads one module of
# CPython's Lib/test the way regrtest does (import it, then unittest's
# loader, which honours load_tests) and runs it in this one call.
import sys, io, os, time, unittest, importlib, traceback, warnings

sys.path.insert(0, "/testlib")
from test import support

# regrtest's defaults without -u: no optional resources (network, cpu,
# largefile, ...), quiet output.
support.verbose = 0
support.use_resources = []
support.record_original_stdout(sys.stdout)
_emit = sys.modules["snakepit"].emit
_TB = 4000  # characters of each traceback kept
_LIMIT = 200  # failures and errors reported in full per module


def _last_line(tb):
    lines = [l for l in tb.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


class _Result(unittest.TextTestResult):
    # Reports each test as it starts: a module stopped by its deadline or a
    # crash still says how far it got and which test it was in.
    def startTest(self, test):
        super().startTest(test)
        _emit(test.id())


def _flat(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flat(t)
        else:
            yield t


def run(module, skip=()):
    """Runs test.<module>; skip names test methods left out (the quick set's slow ones)."""
    out = {"module": module}
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module("test." + module)
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    except unittest.SkipTest as e:
        out.update(status="skipped", reason=str(e)[:500], seconds=time.perf_counter() - t0)
        return out
    except BaseException as e:
        tb = traceback.format_exc()
        out.update(status="load-error", reason=_last_line(tb), traceback=tb[-_TB:], seconds=time.perf_counter() - t0)
        return out
    if skip:
        suite = unittest.TestSuite(t for t in _flat(suite) if getattr(t, "_testMethodName", "") not in skip)
    stream = io.StringIO()
    runner = unittest.TextTestRunner(stream=stream, verbosity=0, resultclass=_Result)
    res = runner.run(suite)
    reasons = {}
    for _, why in res.skipped:
        why = str(why)[:200]
        reasons[why] = reasons.get(why, 0) + 1
    def problems(lst):
        return [{"test": t.id() if hasattr(t, "id") else str(t), "message": _last_line(tb), "traceback": tb[-_TB:]}
                for t, tb in lst[:_LIMIT]]
    out.update(
        status="passed" if not (res.failures or res.errors or res.unexpectedSuccesses) else "failed",
        run=res.testsRun, failures=len(res.failures), errors=len(res.errors), skipped=len(res.skipped),
        expected_failures=len(res.expectedFailures), unexpected_successes=len(res.unexpectedSuccesses),
        failed=problems(res.failures) + problems(res.errors)
               + [{"test": t.id(), "message": "unexpected success"} for t in res.unexpectedSuccesses[:_LIMIT]],
        skip_reasons=reasons, seconds=time.perf_counter() - t0)
    return out
