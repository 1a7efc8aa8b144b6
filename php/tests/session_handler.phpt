--TEST--
sessionkit: a class extending SessionHandler (as Symfony and Laravel wrap it) forwards to sessionkit
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
$path = sk_test_store('handler');

class RecordingHandler extends SessionHandler {
    public array $calls = [];
    public function open(string $path, string $name): bool {
        $this->calls[] = 'open';
        return parent::open($path, $name);
    }
    public function read(string $id): string|false {
        $data = parent::read($id);
        $this->calls[] = 'read:' . strlen($data);
        return $data;
    }
    public function write(string $id, string $data): bool {
        $this->calls[] = 'write:' . strlen($data);
        return parent::write($id, $data);
    }
    public function create_sid(): string {
        $this->calls[] = 'create_sid';
        return parent::create_sid();
    }
    public function destroy(string $id): bool {
        $this->calls[] = 'destroy';
        return parent::destroy($id);
    }
    public function gc(int $max_lifetime): int|false {
        $this->calls[] = 'gc';
        return parent::gc($max_lifetime);
    }
    public function close(): bool {
        $this->calls[] = 'close';
        return parent::close();
    }
}

$h = new RecordingHandler();
var_dump(session_set_save_handler($h, true));
var_dump(session_start());
$id = session_id();
var_dump(strlen($id) >= 22);
$_SESSION['framework'] = 'wrapped';
session_write_close();

session_id($id);
session_start();
var_dump($_SESSION['framework']);
var_dump(session_gc());
session_write_close();
echo implode(' ', $h->calls), "\n";

// The data really is in the sessionkit store: a process using the plain
// sessionkit handler reads it.
$cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
    . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
    . ' -r ' . escapeshellarg('session_id($argv[1]); session_start(); echo ini_get("session.save_handler"), " ", $_SESSION["framework"], "\n";')
    . ' ' . escapeshellarg($id) . ' 2>&1';
echo shell_exec($cmd);

$h->calls = [];
session_id($id);
session_start();
var_dump(session_destroy());
echo implode(' ', $h->calls), "\n";
session_id($id);
session_start();
var_dump($_SESSION);
session_write_close();
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
string(7) "wrapped"
int(0)
open create_sid read:0 write:24 close open read:24 gc write:24 close
sessionkit wrapped
bool(true)
open read:24 destroy close
array(0) {
}
