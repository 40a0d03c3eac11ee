// Package config turns Gatehouse's YAML configuration file into a typed, validated [Config].
//
// Decoding is strict: every unknown key, at any depth, is an error that names the file, the
// line and the key path (for example "gatehouse.yaml:12: clients[1].redirect_uri: unknown key
// ..."). yaml.v3 forgets KnownFields inside Node.Decode (go-yaml/yaml#460), so this package
// walks the YAML node tree itself against the yaml tags of the target struct. The same walker
// decodes each connector's `config:` block later, through [DecodeStrict], once cmd knows the
// connector's typed config struct.
//
// Scalar values (never keys) may reference environment variables as ${VAR} or $VAR; $$ is a
// literal $. A referenced variable that is unset or empty is an error. A value that starts like
// a bcrypt hash ($2a$, $2b$, $2y$) is taken literally, so password hashes need no escaping.
// Values of the form file:/path are left as they are for the caller to resolve.
//
// Every secret key (a string field tagged `secret:"file"`: clients[].secret, storage.config.dsn
// and password, pairwise_salt, mfa.secrets_key, and the connectors' client_secret,
// bind_password, ...) also accepts <key>_file: a path whose file holds the value, read at load
// with one trailing newline removed, so Kubernetes and Docker secrets mount as files. Setting
// both is an error, and so is a missing, unreadable or empty file, each naming the file:line of
// the _file key. See [SecretFileSuffix].
//
// [Parse] and [Load] report every decoding problem at once as an [*Errors]. [Config.ApplyDefaults]
// fills in defaults, and [Config.Validate] then checks the whole configuration without any I/O,
// again reporting every problem, each with its key path (and its file:line when the Config came
// from Parse).
//
// config imports no other Gatehouse package.
package config
