--TEST--
sessionkit: sessions by user: sessionkit_set_user() and sessionkit.user_key record the owner, sessionkit_user_sessions() lists only live sessions of the user, sessionkit_destroy_user() ends them but the current one; bad users and the index's own keys are refused with warnings
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
require 'store.inc';
$path = sk_test_store('users');

// Runs $code in another PHP process (one request); returns what it
// printed, warnings included.
function request(string $path, string $code, string $ini = ''): string {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d log_errors=0 -d error_reporting=-1 -d html_errors=0'
        . ' -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d session.gc_probability=0 ' . $ini
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    return trim((string) shell_exec($cmd));
}
function login(string $path, string $id, string $user, string $ini = ''): void {
    $out = request($path, "session_id('$id'); session_start(); \$_SESSION['n'] = 1;"
        . " var_export(sessionkit_set_user(base64_decode('" . base64_encode($user) . "')));", $ini);
    if ($out !== 'true') echo "login $id: $out\n";
}
function listed(string $path, string $user): string {
    return request($path, "\$l = sessionkit_user_sessions(base64_decode('"
        . base64_encode($user) . "')); if (is_array(\$l)) sort(\$l); echo json_encode(\$l);");
}

echo "-- 3 users, 4 sessions each; the third user's name has a NUL byte\n";
$users = ['alice', 'bob', "car\0ol"];
foreach ($users as $u => $user) {
    for ($i = 0; $i < 4; $i++) login($path, "usr$u-$i-abcdefghijklmnop", $user);
}
foreach ($users as $user) echo listed($path, $user), "\n";
echo listed($path, 'car'), "\n";

echo "-- a destroyed session and an expired one are not listed\n";
echo request($path, "session_id('usr0-1-abcdefghijklmnop'); session_start(); session_destroy(); echo 'ok';"), "\n";
login($path, 'usr0-9-abcdefghijklmnop', 'alice', '-d session.gc_maxlifetime=1');
echo listed($path, 'alice'), "\n";
sleep(2);
echo listed($path, 'alice'), "\n";

echo "-- destroy_user ends every session of bob but the current one\n";
echo request($path, "session_id('usr1-2-abcdefghijklmnop'); session_start();"
    . " var_dump(sessionkit_destroy_user('bob'));"
    . " var_dump(\$_SESSION['n']); \$_SESSION['n'] = 2; session_write_close();"
    . " echo json_encode(sessionkit_user_sessions('bob')), \"\\n\";"
    . " session_id('usr1-0-abcdefghijklmnop'); session_start(); echo json_encode(\$_SESSION);"), "\n";
echo "-- and without the exception, the current one too\n";
echo request($path, "session_id('usr1-2-abcdefghijklmnop'); session_start();"
    . " var_dump(sessionkit_destroy_user('bob', false)); session_abort();"
    . " echo json_encode(sessionkit_user_sessions('bob'));"), "\n";

echo "-- sessionkit.user_key takes the user from \$_SESSION at write\n";
echo request($path, "session_id('usrk-0-abcdefghijklmnop'); session_start(); \$_SESSION['uid'] = 42; echo 'ok';",
    '-d sessionkit.user_key=uid'), "\n";
echo listed($path, '42'), "\n";

echo "-- a session whose user changes is listed for the new user only\n";
echo request($path, "session_id('usrk-0-abcdefghijklmnop'); session_start(); \$_SESSION['uid'] = 'dave'; echo 'ok';",
    '-d sessionkit.user_key=uid'), "\n";
echo listed($path, '42'), ' ', listed($path, 'dave'), "\n";

echo "-- a regenerated id is the user's too\n";
echo request($path, "session_id('usrr-0-abcdefghijklmnop'); session_start(); sessionkit_set_user('erin');"
    . " session_regenerate_id(true); echo strlen(session_id()) > 20 ? 'new id' : 'same id';"), "\n";
echo request($path, "\$l = sessionkit_user_sessions('erin'); echo count(\$l), ' ', json_encode(in_array('usrr-0-abcdefghijklmnop', \$l));"), "\n";

echo "-- 4 processes log in 5 sessions each of one user at once: none is lost\n";
$procs = [];
for ($p = 0; $p < 4; $p++) {
    $code = "for (\$i = 0; \$i < 5; \$i++) { session_id('usrp$p-' . \$i . '-abcdefghijklmnop'); session_start();"
        . " sessionkit_set_user('paula'); session_write_close(); } echo 'ok';";
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d display_errors=1 -d session.save_handler=sessionkit -d session.use_cookies=0'
        . ' -d session.cache_limiter= -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg($code) . ' 2>&1';
    $procs[] = popen($cmd, 'r');
}
foreach ($procs as $proc) { echo stream_get_contents($proc), ' '; pclose($proc); }
echo "\n", request($path, "echo count(sessionkit_user_sessions('paula'));"), "\n";

echo "-- bad users and calls are warnings and false\n";
echo request($path, "var_dump(sessionkit_set_user('x'));"
    . " session_id('usrb-0-abcdefghijklmnop'); session_start();"
    . " var_dump(sessionkit_set_user(''));"
    . " var_dump(sessionkit_user_sessions(str_repeat('u', 257)));"
    . " var_dump(sessionkit_destroy_user(''));"
    . " var_dump(count(sessionkit_user_sessions(str_repeat('u', 256))));"), "\n";

echo "-- the index's own keys are no session ids\n";
echo request($path, "session_id(',sk-user,' . str_repeat('0', 64)); var_dump(session_start());"), "\n";
?>
--EXPECTF--
-- 3 users, 4 sessions each; the third user's name has a NUL byte
["usr0-0-abcdefghijklmnop","usr0-1-abcdefghijklmnop","usr0-2-abcdefghijklmnop","usr0-3-abcdefghijklmnop"]
["usr1-0-abcdefghijklmnop","usr1-1-abcdefghijklmnop","usr1-2-abcdefghijklmnop","usr1-3-abcdefghijklmnop"]
["usr2-0-abcdefghijklmnop","usr2-1-abcdefghijklmnop","usr2-2-abcdefghijklmnop","usr2-3-abcdefghijklmnop"]
[]
-- a destroyed session and an expired one are not listed
ok
["usr0-0-abcdefghijklmnop","usr0-2-abcdefghijklmnop","usr0-3-abcdefghijklmnop","usr0-9-abcdefghijklmnop"]
["usr0-0-abcdefghijklmnop","usr0-2-abcdefghijklmnop","usr0-3-abcdefghijklmnop"]
-- destroy_user ends every session of bob but the current one
int(3)
int(1)
["usr1-2-abcdefghijklmnop"]
[]
-- and without the exception, the current one too
int(1)
[]
-- sessionkit.user_key takes the user from $_SESSION at write
ok
["usrk-0-abcdefghijklmnop"]
-- a session whose user changes is listed for the new user only
ok
[] ["usrk-0-abcdefghijklmnop"]
-- a regenerated id is the user's too
new id
1 false
-- 4 processes log in 5 sessions each of one user at once: none is lost
ok ok ok ok 
20
-- bad users and calls are warnings and false
Warning: sessionkit_set_user(): sessionkit: no session is active (call session_start() first) in Command line code on line 1
bool(false)

Warning: sessionkit_set_user(): sessionkit: user name is empty in Command line code on line 1
bool(false)

Warning: sessionkit_user_sessions(): sessionkit: user name is too long (257 bytes; at most 256 are allowed) in Command line code on line 1
bool(false)

Warning: sessionkit_destroy_user(): sessionkit: user name is empty in Command line code on line 1
bool(false)
int(0)
-- the index's own keys are no session ids
Warning: session_start(): sessionkit: cannot read the session in the store of session.save_path: session id starts with ",sk-", which sessionkit keeps for its own records (user indexes), not for sessions in Command line code on line 1
%A
