package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecretFileSuffix is appended to a secret key to name its file variant: a field tagged
// `secret:"file"` (client_secret, bind_password, dsn, ...) may be written as
// <key>_file: /path, and the decoder reads the file into the field (so a Kubernetes Secret or a
// Docker secret mounted as a file needs no environment variable). One trailing newline (\n or
// \r\n) is removed, since `echo` and most editors add one; the rest of the file is the value,
// taken literally (no ${VAR} expansion). The path itself may use ${VAR}.
const SecretFileSuffix = "_file"

// secretTag is the struct tag that allows a <key>_file variant of a string field.
const secretTag = "secret"

// secretFileField returns the index of the secret field that name (ending in _file) stands
// for, and that field's key, or false when name is not the file variant of a secret field.
func (si *structInfo) secretFileField(name string) (idx []int, base string, ok bool) {
	base, found := strings.CutSuffix(name, SecretFileSuffix)
	if !found || base == "" {
		return nil, "", false
	}
	if !si.secrets[base] {
		return nil, "", false
	}
	return si.fields[base], base, true
}

// readSecretFile decodes the path in val and reads the file it names into field (a string),
// reporting a missing or unreadable file at the line of the _file key. The field's own key
// path is recorded at that line too, so later problems about the value point there.
func (d *decoder) readSecretFile(k, val *yaml.Node, field reflect.Value, path, base string) {
	kp := joinPath(path, k.Value)
	d.record(joinPath(path, base), k.Line)
	if isNull(val) {
		return
	}
	p, ok := d.scalar(val, kp, "a file path")
	if !ok {
		return
	}
	if p == "" {
		d.addf(k.Line, kp, "empty file path (remove the key or name the file holding %s)", base)
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		d.addErr(k.Line, kp, err, "cannot read the file holding %s", base)
		return
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		d.addf(k.Line, kp, "the file %s is empty (it should hold %s)", p, base)
		return
	}
	if field.Kind() != reflect.String {
		d.addf(k.Line, kp, "internal error: %s is tagged secret but is not a string", base)
		return
	}
	field.SetString(s)
}

// checkSecretPairs reports keys given both directly and as <key>_file in one mapping.
func (d *decoder) checkSecretPairs(si *structInfo, seen map[string]int, path string) {
	for base := range si.secrets {
		line, direct := seen[base]
		fileLine, viaFile := seen[base+SecretFileSuffix]
		if direct && viaFile {
			d.addf(max(line, fileLine), joinPath(path, base),
				"%s and %s%s are both set (line %d and %d): keep one", base, base, SecretFileSuffix, line, fileLine)
		}
	}
}

// secretFileHelp is the sentence an unknown-key message gains for a key ending in _file
// whose base is not a secret, so an operator knows which keys have a file variant.
func secretFileHelp(name string, si *structInfo) string {
	if !strings.HasSuffix(name, SecretFileSuffix) || len(si.secrets) == 0 {
		return ""
	}
	keys := make([]string, 0, len(si.secrets))
	for k := range si.secrets {
		keys = append(keys, k+SecretFileSuffix)
	}
	slices.Sort(keys)
	return fmt.Sprintf(" (the file variants here are: %s)", strings.Join(keys, ", "))
}
