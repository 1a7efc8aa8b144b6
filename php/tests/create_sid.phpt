--TEST--
sessionkit: new ids follow session.sid_length and session.sid_bits_per_character (at least 128 bits)
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('sid');

$alphabets = [4 => '0-9a-f', 5 => '0-9a-v', 6 => '0-9a-zA-Z,\-'];
$cases = [[4, 32], [4, 40], [5, 26], [5, 32], [6, 22], [6, 48], [6, 256],
          [4, 22] /* 88 bits: raised to 32 characters = 128 bits */];
foreach ($cases as [$bits, $length]) {
    ini_set('session.sid_bits_per_character', (string) $bits);
    ini_set('session.sid_length', (string) $length);
    $ids = [];
    $ok = true;
    for ($i = 0; $i < 200; $i++) {
        session_id('');
        session_start();
        $id = session_id();
        session_write_close();
        $ok = $ok && preg_match('/^[' . $alphabets[$bits] . ']+$/', $id);
        $ids[strlen($id)] = true;
        $seen[$id] = true;
    }
    printf("bits=%d sid_length=%d: lengths=%s charset_ok=%s\n", $bits, $length,
           implode(',', array_keys($ids)), var_export((bool) $ok, true));
}
echo count($seen), " distinct ids\n";

// With bits=6 every one of the 64 characters shows up.
ini_set('session.sid_bits_per_character', '6');
ini_set('session.sid_length', '256');
$chars = [];
for ($i = 0; $i < 20; $i++) {
    session_id('');
    session_start();
    foreach (str_split(session_id()) as $c) $chars[$c] = true;
    session_write_close();
}
echo count($chars), " characters used\n";
?>
--EXPECT--
bits=4 sid_length=32: lengths=32 charset_ok=true
bits=4 sid_length=40: lengths=40 charset_ok=true
bits=5 sid_length=26: lengths=26 charset_ok=true
bits=5 sid_length=32: lengths=32 charset_ok=true
bits=6 sid_length=22: lengths=22 charset_ok=true
bits=6 sid_length=48: lengths=48 charset_ok=true
bits=6 sid_length=256: lengths=256 charset_ok=true
bits=4 sid_length=22: lengths=32 charset_ok=true
1600 distinct ids
64 characters used
