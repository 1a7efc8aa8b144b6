--TEST--
sessionkit: the user sessionkit_set_user() gives goes with its session only: not with a session started after a logout or under another id in the same request, with the new id of session_regenerate_id(), and never from a request that reads the session read-only
--EXTENSIONS--
sessionkit
pcntl
posix
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
sessionkit.lock_wait_ms=300
--FILE--
<?php
require 'store.inc';
$path = sk_test_store('usersfollow');
ini_set('error_log', '/dev/null');

// Runs $code in another PHP process (one request); returns what it
// printed, warnings included.
function request(string $path, string $code): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.gc_probability=0'
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    return trim((string) shell_exec($cmd));
}
function listed(string $path, string $user): string {
    return request($path, "\$l = sessionkit_user_sessions('$user'); if (is_array(\$l)) sort(\$l); echo json_encode(\$l);");
}

echo "-- a logout, then a new session in the same request\n";
echo request($path, "session_id('follow-a-abcdefghijklmnopqrs'); session_start(); \$_SESSION['n'] = 1;"
    . " sessionkit_set_user('alice'); session_destroy(); session_start(); \$_SESSION['flash'] = 'bye';"
    . " echo session_id() !== '' ? 'new session' : 'none'; session_write_close();"), "\n";
echo "alice: ", listed($path, 'alice'), "\n";

echo "-- another id in the same request\n";
echo request($path, "session_id('follow-b-abcdefghijklmnopqrs'); session_start(); \$_SESSION['n'] = 1;"
    . " sessionkit_set_user('bob'); session_write_close();"
    . " session_id('follow-c-abcdefghijklmnopqrs'); session_start(); \$_SESSION['n'] = 2; session_write_close();"
    . " echo 'two sessions';"), "\n";
echo "bob: ", listed($path, 'bob'), "\n";

echo "-- a regenerated id keeps its user\n";
$new = request($path, "session_id('follow-d-abcdefghijklmnopqrs'); session_start(); \$_SESSION['n'] = 1;"
    . " sessionkit_set_user('carol'); session_regenerate_id(true); echo session_id(); session_write_close();");
echo "carol: ", listed($path, 'carol') === json_encode([$new]) ? 'the new id' : listed($path, 'carol'), "\n";

echo "-- a read-only request records no user\n";
$id = 'follow-e-abcdefghijklmnopqrs';
request($path, "session_id('$id'); session_start(); \$_SESSION['n'] = 1;");
[$parent_end, $child_end] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);
$a = pcntl_fork();
if ($a === 0) {
    session_id($id);
    session_start();
    fwrite($child_end, "locked\n");
    fgets($child_end);
    posix_kill(posix_getpid(), SIGKILL);  // the lock dies with it
}
fgets($parent_end);
session_id($id);
session_start();  // read-only, after 300 ms
var_dump(sessionkit_set_user('mallory'));
$_SESSION['n'] = 2;
session_write_close();
fwrite($parent_end, "end\n");
pcntl_waitpid($a, $status);
echo "mallory: ", listed($path, 'mallory'), "\n";
?>
--EXPECT--
-- a logout, then a new session in the same request
new session
alice: []
-- another id in the same request
two sessions
bob: ["follow-b-abcdefghijklmnopqrs"]
-- a regenerated id keeps its user
carol: the new id
-- a read-only request records no user
bool(true)
mallory: []
