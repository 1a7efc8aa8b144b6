<?php

namespace App;

use Symfony\Component\HttpFoundation\Session\Storage\Proxy\AbstractProxy;

/**
 * Leaves PHP's own save handler (session.save_handler = sessionkit) in
 * place under NativeSessionStorage.
 *
 * Given no handler (null, which is what framework.session.handler_id: null
 * gives), Symfony 5.4's NativeSessionStorage wraps `new \SessionHandler()`
 * in a StrictSessionHandler and registers that with
 * session_set_save_handler(): PHP then calls PHP code, which calls
 * sessionkit. The session is still stored and locked by sessionkit, but
 * an unchanged session is rewritten instead of touched, ids are created by
 * PHP instead of sessionkit, and the destroy of migrate(true) deletes the
 * old id at once (no regenerate grace).
 *
 * NativeSessionStorage registers nothing for a handler that is an
 * AbstractProxy but not a SessionHandlerProxy, so with this one PHP calls
 * sessionkit directly, exactly as with plain session_start().
 */
final class NativeSessionProxy extends AbstractProxy
{
    public function __construct()
    {
        $this->saveHandlerName = (string) \ini_get('session.save_handler');
    }
}
