--TEST--
sessionkit: a request that read the session without its lock (locking off) and changed nothing never brings back a session another request logged out meanwhile
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.lazy_write=1
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('unlocked_touch');

// Another request (its own PHP process): `$code` on session `$id`.
function other(string $path, string $id, string $code, string $ini = ''): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d session.use_cookies=0 -d session.gc_probability=0 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg('session_id($argv[1]); ' . $code)
        . ' ' . escapeshellarg($id);
    return trim(shell_exec($cmd . ' 2>&1'));
}

$warnings = [];
set_error_handler(function ($n, $s) use (&$warnings) { $warnings[] = $s; return true; });

foreach (['' => 'locking off', ' -d sessionkit.first_lifetime=300' => 'locking off, first visit growing'] as $ini => $what) {
    $id = 'unlockedtouch' . bin2hex(random_bytes(8));
    echo other($path, $id, 'session_start(); $_SESSION["user"] = "alice"; echo "logged in";', $ini), "\n";
    // A page that only reads the session, with locking off (docs/locking.md).
    ini_set('sessionkit.locking', '0');
    if ($ini !== '') ini_set('sessionkit.first_lifetime', '300');
    session_id($id);
    session_start();
    echo "$what: read ", json_encode($_SESSION), "\n";
    // Meanwhile the user logs out in another tab.
    echo other($path, $id, 'session_start(); session_destroy(); echo "logged out";', $ini), "\n";
    // Unchanged: lazy_write touches the session instead of writing it.
    var_dump(session_write_close());
    echo "after: ", other($path, $id, 'session_start(); echo json_encode($_SESSION);', $ini), "\n";
    ini_restore('sessionkit.first_lifetime');
}
echo "warnings: ", count($warnings) ? implode(' | ', $warnings) : 'none', "\n";
?>
--EXPECT--
logged in
locking off: read {"user":"alice"}
logged out
bool(true)
after: []
logged in
locking off, first visit growing: read {"user":"alice"}
logged out
bool(true)
after: []
warnings: none
