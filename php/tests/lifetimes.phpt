--TEST--
sessionkit: bots (User-Agent patterns, empty User-Agent) get sessionkit.bot_lifetime on write and touch; bot_pattern replaces the list, an invalid one is refused
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.gc_maxlifetime=600
session.lazy_write=1
sessionkit.bot_lifetime=1
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('lifetimes');

foreach (['bot_pattern', 'bot_lifetime', 'first_lifetime', 'min_lifetime',
          'max_lifetime'] as $name) {
    var_dump(ini_get("sessionkit.$name"));
}
var_dump(ini_set('sessionkit.bot_lifetime', '-1'));
var_dump(ini_set('sessionkit.bot_pattern', '(bot'));
var_dump(ini_get('sessionkit.bot_lifetime'), ini_get('sessionkit.bot_pattern'));
// In php.ini (or -d): a warning at startup, and the built-in list.
$out = shell_exec(getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
    . ' -d display_startup_errors=1 -d ' . escapeshellarg('sessionkit.bot_pattern=(bot')
    . ' -r ' . escapeshellarg('echo "value: [", ini_get("sessionkit.bot_pattern"), "]\n";') . ' 2>&1');
var_dump(str_contains($out, 'sessionkit.bot_pattern is not a valid regular expression'),
         str_contains($out, 'value: []'));

// Starts session $id as a client whose User-Agent is $ua (null: none, as a
// CLI script), and sets $_SESSION['v'] to $value (null: left unchanged, so
// that lazy_write touches the session instead of writing it).
function visit(string $id, ?string $ua, ?string $value): void {
    if ($ua === null) {
        unset($_SERVER['HTTP_USER_AGENT']);
    } else {
        $_SERVER['HTTP_USER_AGENT'] = $ua;
    }
    session_id($id);
    session_start();
    if ($value !== null) $_SESSION['v'] = $value;
    session_write_close();
}

$firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
$ids = [
    'googlebot' => 'lifetimesgooglebot0123456789abcd',
    'empty' => 'lifetimesemptyagent0123456789abc',
    'firefox' => 'lifetimesfirefox0123456789abcdef',
    'cli' => 'lifetimescliscript0123456789abcd',
    'touched' => 'lifetimestouchedbybot0123456789a',
    'monitor' => 'lifetimesmymonitor0123456789abcd',
    'replaced' => 'lifetimesgooglebotnotabot012345a',
];
visit($ids['googlebot'], 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'a');
visit($ids['empty'], '', 'b');
visit($ids['firefox'], $firefox, 'c');
visit($ids['cli'], null, 'd');
// Written by a browser, then seen unchanged by a crawler: the touch gives
// it the bot lifetime too.
visit($ids['touched'], $firefox, 'e');
visit($ids['touched'], 'curl/8.0.1', null);

ini_set('sessionkit.bot_pattern', '^MyMonitor/');
var_dump(ini_get('sessionkit.bot_pattern'));
visit($ids['monitor'], 'mymonitor/1.0', 'f');
visit($ids['replaced'], 'Googlebot/2.1', 'g');

if (sk_test_store_kind() === 'redis') {
    // The key's own TTL: a bot's at most bot_lifetime, a browser's near
    // gc_maxlifetime.
    $ttl = fn ($id) => sk_test_redis($path, 'PTTL', sk_test_redis_prefix($path) . '{' . $id . '}');
    var_dump($ttl($ids['googlebot']) <= 1000, $ttl($ids['firefox']) > 590000);
} else {
    var_dump(true, true);
}

// Past the bot lifetime (memcached drops an item up to a second after its
// expiry second).
usleep(2200000);
foreach ($ids as $name => $id) {
    session_id($id);
    session_start(['read_and_close' => true]);
    echo "$name: ", $_SESSION['v'] ?? 'gone', "\n";
}
?>
--EXPECTF--
string(0) ""
string(1) "1"
string(1) "0"
string(1) "0"
string(1) "0"

Warning: ini_set(): sessionkit.bot_lifetime must be between 0 and 2147483647, not "-1" in %s on line %d
bool(false)

Warning: ini_set(): sessionkit.bot_pattern is not a valid regular expression (RE2 syntax): missing ): (bot; the setting keeps its previous value (at startup: the built-in list) in %s on line %d
bool(false)
string(1) "1"
string(0) ""
bool(true)
bool(true)
string(11) "^MyMonitor/"
bool(true)
bool(true)
googlebot: gone
empty: gone
firefox: c
cli: d
touched: gone
monitor: gone
replaced: g
