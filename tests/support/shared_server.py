"""Settings of the session's shared `bentoml serve` (the `server` fixture of tests/conftest.py)
that tests check against."""

# An origin the shared server lets call it from a browser (besides the page host's own).
ALLOWED_ORIGIN = "https://allowed.example.org"
# Its idle keep-alive: the task definition's option, set short so that measuring it takes seconds.
SERVER_KEEP_ALIVE_S = 9
# The service it serves: service.py's, with a simplifier backend that fails any batch holding
# the word POISON.
FAULTY_SERVICE = "tests.support.fault_service:PLSService"
POISON = "POISON"
