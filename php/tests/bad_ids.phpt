--TEST--
sessionkit: malformed session ids are refused with a warning before they reach the store
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
session.sid_length=32
session.sid_bits_per_character=5
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('badids');

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});
function show(): void {
    global $warnings;
    foreach ($warnings as $w) echo "  $w\n";
    $warnings = [];
}

$bad = [
    'dots' => '../x',
    'traversal' => '../../../../../etc/passwd',
    'long' => str_repeat('a', 300),
    'space' => 'a b',
    'space-long' => 'abcdefghij klmnopqrstuvwxyz',
    'nul' => "abcdefghijklmnopqrstuvwxyz\0../../x",
    'empty' => '',
    // Not malformed: PHP accepts ids of 1 to 256 characters (short_ids.phpt).
    'short' => 'abcdefghijklmnopqrstu',
    'dot' => 'abcdefghijklmnop.rstuvwxyz',
];

// PHP itself replaces two of these before any save handler sees them: an id
// with whitespace, quotes or angle brackets is dropped, and an empty id means
// "create one". Both start a fresh session under a new sessionkit id.
echo "== through session_id() and session_start()\n";
foreach ($bad as $name => $id) {
    session_id($id);
    $started = session_start();
    echo "$name: started=", var_export($started, true);
    if ($started) {
        echo " id=", strlen(session_id()), " chars, fresh=",
             var_export(session_id() !== $id, true);
        session_write_close();
    }
    echo "\n";
    show();
}

echo "== through SessionHandler, which hands the raw id to sessionkit\n";
$handler = new SessionHandler();
session_set_save_handler($handler, false);
session_id('');
var_dump(session_start());
foreach (['dots', 'traversal', 'long', 'space', 'space-long', 'nul', 'empty'] as $name) {
    $id = $bad[$name];
    echo "$name: read=", var_export($handler->read($id), true),
         " write=", var_export($handler->write($id, 'x|i:1;'), true),
         " destroy=", var_export($handler->destroy($id), true), "\n";
    // Every warning names the problem, never echoes the id.
    $all = implode("\n", $warnings);
    if ($name === 'long' && str_contains($all, str_repeat('a', 40))) echo "  id echoed!\n";
    show();
}
session_write_close();
?>
--EXPECTF--
== through session_id() and session_start()
dots: started=false
  session_start(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  session_start(): Failed to read session data: sessionkit (path: %s)
traversal: started=false
  session_start(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  session_start(): Failed to read session data: sessionkit (path: %s)
long: started=false
  session_start(): sessionkit: cannot read the session: session id is too long (300 characters; at most 256 are allowed)
  session_start(): Failed to read session data: sessionkit (path: %s)
space: started=true id=32 chars, fresh=true
space-long: started=true id=32 chars, fresh=true
nul: started=false
  session_start(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 27 (byte 0x00)
  session_start(): Failed to read session data: sessionkit (path: %s)
empty: started=true id=32 chars, fresh=true
short: started=true id=21 chars, fresh=false
dot: started=false
  session_start(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 17 (byte 0x2e)
  session_start(): Failed to read session data: sessionkit (path: %s)
== through SessionHandler, which hands the raw id to sessionkit
bool(true)
dots: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  SessionHandler::write(): sessionkit: cannot save the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
traversal: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  SessionHandler::write(): sessionkit: cannot save the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id has a character outside a-z A-Z 0-9 , - at position 1 (byte 0x2e)
long: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id is too long (300 characters; at most 256 are allowed)
  SessionHandler::write(): sessionkit: cannot save the session: session id is too long (300 characters; at most 256 are allowed)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id is too long (300 characters; at most 256 are allowed)
space: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 2 (byte 0x20)
  SessionHandler::write(): sessionkit: cannot save the session: session id has a character outside a-z A-Z 0-9 , - at position 2 (byte 0x20)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id has a character outside a-z A-Z 0-9 , - at position 2 (byte 0x20)
space-long: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 11 (byte 0x20)
  SessionHandler::write(): sessionkit: cannot save the session: session id has a character outside a-z A-Z 0-9 , - at position 11 (byte 0x20)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id has a character outside a-z A-Z 0-9 , - at position 11 (byte 0x20)
nul: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id has a character outside a-z A-Z 0-9 , - at position 27 (byte 0x00)
  SessionHandler::write(): sessionkit: cannot save the session: session id has a character outside a-z A-Z 0-9 , - at position 27 (byte 0x00)
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id has a character outside a-z A-Z 0-9 , - at position 27 (byte 0x00)
empty: read=false write=false destroy=false
  SessionHandler::read(): sessionkit: cannot read the session: session id is empty
  SessionHandler::write(): sessionkit: cannot save the session: session id is empty
  SessionHandler::destroy(): sessionkit: cannot destroy the session: session id is empty
