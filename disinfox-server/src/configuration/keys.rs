//! The settings the server knows: the table the README's configuration reference is checked
//! against, and the `DISINFOX_*` variables that belong to other tools.

/// One documented setting: `(key, env var, default, meaning)`. The README's configuration
/// reference and the drift test are built from this table.
pub const KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "listen",
        "DISINFOX_LISTEN",
        "127.0.0.1:8080",
        "address and port to listen on",
    ),
    (
        "database_url",
        "DISINFOX_DATABASE_URL",
        "sqlite://<data_dir>/disinfox.db",
        "database; a SQLite URL (created with its schema on first start)",
    ),
    (
        "data_dir",
        "DISINFOX_DATA_DIR",
        "./data",
        "directory for the default SQLite database",
    ),
    (
        "public_url",
        "DISINFOX_PUBLIC_URL",
        "http://<listen>",
        "URL clients use to reach the server (links, TAXII)",
    ),
    (
        "organization",
        "DISINFOX_ORGANIZATION",
        "DISINFOX",
        "name of the organization that authors the incidents (created_by_ref)",
    ),
    (
        "tlp",
        "DISINFOX_TLP",
        "green",
        "TLP marking of exported objects: clear, green, amber, amber+strict, red",
    ),
    (
        "disarm_version",
        "DISINFOX_DISARM_VERSION",
        "1.7",
        "DISARM version techniques are checked against: 1.6 or 1.7",
    ),
    (
        "opencti_id_rules",
        "DISINFOX_OPENCTI_ID_RULES",
        "7",
        "OpenCTI attack-pattern id rules: 6 or 7",
    ),
    (
        "body_limit_bytes",
        "DISINFOX_BODY_LIMIT_BYTES",
        "10485760",
        "largest accepted request body, in bytes",
    ),
    (
        "request_timeout_secs",
        "DISINFOX_REQUEST_TIMEOUT_SECS",
        "30",
        "time limit of one request, in seconds",
    ),
    (
        "rate_limit_per_minute",
        "DISINFOX_RATE_LIMIT_PER_MINUTE",
        "600",
        "requests per minute per user, across all their API keys; and per address for visitors without an account when public_read is on (0: no limit)",
    ),
    (
        "bundle_page_limit",
        "DISINFOX_BUNDLE_PAGE_LIMIT",
        "100",
        "incidents per page of /api/v1/bundle when the client gives no limit",
    ),
    (
        "import_jobs_per_user",
        "DISINFOX_IMPORT_JOBS_PER_USER",
        "2",
        "import jobs one user may have queued or running at once",
    ),
    (
        "import_jobs_max",
        "DISINFOX_IMPORT_JOBS_MAX",
        "4",
        "import jobs the server runs (or has queued) at once",
    ),
    (
        "connector_api_key",
        "DISINFOX_CONNECTOR_API_KEY",
        "",
        "a read API key to provision at start for the OpenCTI connector (at least 32 characters; empty: none)",
    ),
    (
        "trusted_proxies",
        "DISINFOX_TRUSTED_PROXIES",
        "",
        "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the client; empty: the header is ignored",
    ),
    (
        "registration",
        "DISINFOX_REGISTRATION",
        "closed",
        "who may create an account: closed (administrators only), approval (anyone applies, an administrator approves), open",
    ),
    (
        "public_read",
        "DISINFOX_PUBLIC_READ",
        "false",
        "true: visitors without an account may browse the incident pages, matrix, actors and dashboard (never the API)",
    ),
    (
        "max_keys_per_user",
        "DISINFOX_MAX_KEYS_PER_USER",
        "10",
        "live API keys a user may hold",
    ),
    (
        "watchlist_max",
        "DISINFOX_WATCHLIST_MAX",
        "1000",
        "incidents one user's watchlist may hold",
    ),
    (
        "login_attempts_per_minute",
        "DISINFOX_LOGIN_ATTEMPTS_PER_MINUTE",
        "10",
        "sign-in attempts per minute per client address (successful ones are not counted)",
    ),
    (
        "password_hash_concurrency",
        "DISINFOX_PASSWORD_HASH_CONCURRENCY",
        "2",
        "passwords hashed at once (argon2id, 19 MiB each); more wait up to 2 s, then get 503",
    ),
    (
        "log_format",
        "DISINFOX_LOG_FORMAT",
        "text",
        "log format: text or json",
    ),
    (
        "log_level",
        "DISINFOX_LOG_LEVEL",
        "info",
        "log level or tracing filter (e.g. info, disinfox_server=debug)",
    ),
];

/// `DISINFOX_*` variables that are not settings of the server (used by other tools).
pub(super) const IGNORED_ENV: &[&str] = &[
    "DISINFOX_URL",
    "DISINFOX_API_KEY",
    "DISINFOX_PAGE_SIZE",
    "DISINFOX_TIMEOUT_SECS",
    "DISINFOX_TEST_AMQP_URL",
    "DISINFOX_PYTHON",
    "DISINFOX_TEST_LOG",
    // Where the tests find the published DISARM bundles, and whether they must (docs/disarm.md §1).
    "DISINFOX_DISARM_DIR",
    "DISINFOX_REQUIRE_DISARM",
];
