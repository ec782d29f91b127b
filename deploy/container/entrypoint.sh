#!/bin/sh
# The image's entrypoint: each secret may come from a file instead of the environment, as Docker and Kubernetes
# secrets are mounted (/run/secrets/...): <NAME>_FILE=/path sets <NAME> to the file's content (lines joined with
# commas, so a file may list several service tokens), then authsvc (or the given command) replaces this shell.
# AUTHSVC_SESSION_KEY_FILE needs nothing here: authsvc reads it itself (session.key_file, one key per line).
set -eu
for name in AUTHSVC_AUDIT_KEY AUTHSVC_INTROSPECTION_TOKENS AUTHSVC_SMTP_USERNAME AUTHSVC_SMTP_PASSWORD MONGODB_URL; do
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    if eval "[ -n \"\${${name}:-}\" ]"; then
        echo "entrypoint: set $name or ${name}_FILE, not both" >&2
        exit 64
    fi
    if [ ! -r "$file" ]; then
        echo "entrypoint: ${name}_FILE: cannot read $file" >&2
        exit 66
    fi
    value=$(grep -v '^[[:space:]]*$' "$file" | paste -sd, -)
    export "$name=$value"
    unset "${name}_FILE"
done
exec "$@"
