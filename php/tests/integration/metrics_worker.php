<?php
// One worker of metrics_test.sh: CYCLES session lifecycles, each a new
// session written, read and updated, then destroyed. Any warning fails it
// (exit 1). The session settings come from the command line (-d).
//
// Usage: php -d ... metrics_worker.php CYCLES

declare(strict_types=1);

set_error_handler(function (int $no, string $msg) {
    fwrite(STDERR, "worker " . getmypid() . ": $msg\n");
    exit(1);
});
$cycles = (int) ($argv[1] ?? 1);
for ($i = 0; $i < $cycles; $i++) {
    // create_sid (one exists: miss), read (miss), write (a new session)
    session_start() or exit(1);
    $id = session_id();
    $_SESSION['cart'] = [$i => str_repeat('x', 100)];
    session_write_close();
    // read (ok), write (an update)
    session_id($id);
    session_start() or exit(1);
    if (!isset($_SESSION['cart'][$i])) {
        fwrite(STDERR, "worker " . getmypid() . ": session $i lost\n");
        exit(1);
    }
    $_SESSION['n'] = $i;
    session_write_close();
    // read (ok), destroy
    session_id($id);
    session_start() or exit(1);
    session_destroy() or exit(1);
}
