<?php
// Prepended to every page of the pdo-* handlers (auto_prepend_file): makes
// Symfony's PdoSessionHandler (Debian php-symfony-http-foundation) the
// session handler of this request, on the database of sk_stack.pdo_url
// (mysql:// or postgres://), table "sessions" (created by the harness with
// the handler's own createTable() SQL), lock mode sk_stack.pdo_lock. Given a
// DSN, the handler connects when the session opens and disconnects when it
// closes, as in a Symfony application without persistent connections.
declare(strict_types=1);

(function (): void {
  require_once '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';
  $url = (string)get_cfg_var('sk_stack.pdo_url');
  $u = parse_url($url);
  $driver = ($u['scheme'] ?? '') === 'mysql' ? 'mysql' : 'pgsql';
  $db = ltrim($u['path'] ?? '', '/');
  $class = \Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler::class;
  $modes = ['none' => $class::LOCK_NONE, 'advisory' => $class::LOCK_ADVISORY,
            'transactional' => $class::LOCK_TRANSACTIONAL];
  $handler = new $class("$driver:host={$u['host']};port={$u['port']};dbname=$db", [
    'db_username' => urldecode($u['user'] ?? ''),
    'db_password' => urldecode($u['pass'] ?? ''),
    'lock_mode' => $modes[(string)get_cfg_var('sk_stack.pdo_lock')] ?? $class::LOCK_TRANSACTIONAL,
  ]);
  session_set_save_handler($handler, true);
})();
