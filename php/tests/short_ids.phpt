--TEST--
sessionkit: any id PHP accepts (1 to 256 characters of a-z A-Z 0-9 , -) works, as with the files handler
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('shortids');

foreach (['test003', 'a', 'x-1,y', str_repeat('Z', 21), str_repeat('q', 256)] as $id) {
    session_id($id);
    $started = session_start();
    $same = session_id() === $id;
    $_SESSION['v'] = strlen($id);
    session_write_close();
    $_SESSION = [];
    session_id($id);
    session_start(['read_and_close' => true]);
    echo strlen($id), ": started=", var_export($started, true),
         " same id=", var_export($same, true), " read back=", $_SESSION['v'] ?? 'none', "\n";
}

// Through SessionHandler, which hands the raw id to sessionkit.
$handler = new SessionHandler();
session_set_save_handler($handler, false);
session_id('');
session_start();
var_dump($handler->write('short1', 'k|i:7;'), $handler->read('short1'),
         $handler->destroy('short1'), $handler->read('short1'));
session_write_close();
ini_set('session.save_handler', 'sessionkit');

// Strict mode: a short unknown id is replaced by a strong new one, no failure.
ini_set('session.use_strict_mode', '1');
session_id('nosuch7');
var_dump(session_start(), session_id() !== 'nosuch7', strlen(session_id()) >= 26);
session_write_close();
// A short id that exists is kept in strict mode too.
session_id('test003');
var_dump(session_start(), session_id(), $_SESSION['v']);
session_write_close();
?>
--EXPECT--
7: started=true same id=true read back=7
1: started=true same id=true read back=1
5: started=true same id=true read back=5
21: started=true same id=true read back=21
256: started=true same id=true read back=256
bool(true)
string(6) "k|i:7;"
bool(true)
string(0) ""
bool(true)
bool(true)
bool(true)
bool(true)
string(7) "test003"
int(7)
