package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile document (alias bombs, deep nesting) from running away.
const (
	maxDecodeSteps = 200_000
	maxDecodeDepth = 256
)

// DecodeStrict decodes node into dst (a non-nil pointer) with the rules Parse uses: unknown
// keys, type errors and unset environment variables are problems naming filename, the line
// and the key path under path (e.g. "connectors[2].config"). An empty (zero) or null node
// decodes to nothing. It returns nil or an *Errors listing every problem.
func DecodeStrict(node *yaml.Node, dst any, filename, path string, getenv func(string) string) error {
	rv := reflect.ValueOf(dst)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &Errors{Problems: []*Problem{{
			File: filename, Path: path,
			Message: fmt.Sprintf("internal error: DecodeStrict needs a non-nil pointer, got %T", dst),
		}}}
	}
	if node == nil || node.Kind == 0 {
		return nil
	}
	d := newDecoder(filename, getenv, nil)
	d.decode(node, rv.Elem(), path, 0)
	return d.errs.err()
}

// decoder walks a yaml.Node tree into a reflect.Value, collecting problems.
type decoder struct {
	file   string
	getenv func(string) string
	errs   *Errors
	// lines, when non-nil, records the line of every key path seen (for Validate messages).
	lines map[string]int
	// active holds the anchors being expanded, to refuse self-referencing aliases.
	active  map[*yaml.Node]bool
	structs map[reflect.Type]*structInfo
	steps   int
	stopped bool
}

func newDecoder(file string, getenv func(string) string, lines map[string]int) *decoder {
	return &decoder{
		file:    file,
		getenv:  getenv,
		errs:    &Errors{},
		lines:   lines,
		active:  map[*yaml.Node]bool{},
		structs: map[reflect.Type]*structInfo{},
	}
}

func (d *decoder) addf(line int, path, format string, args ...any) {
	d.errs.add(&Problem{File: d.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) addErr(line int, path string, err error, format string, args ...any) {
	d.errs.add(&Problem{File: d.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...), Err: err})
}

func (d *decoder) record(path string, line int) {
	if d.lines == nil {
		return
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = line
	}
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if d.stopped {
		return
	}
	d.steps++
	if d.steps > maxDecodeSteps || depth > maxDecodeDepth {
		d.stopped = true
		d.addf(n.Line, path, "document is too large or too deeply nested (aliases expand to too much)")
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], v, path, depth+1)
		}
		return
	case yaml.AliasNode:
		target := n.Alias
		if target == nil {
			d.addf(n.Line, path, "unknown anchor %q", n.Value)
			return
		}
		if d.active[target] {
			d.addf(n.Line, path, "alias *%s refers to its own anchor", n.Value)
			return
		}
		d.active[target] = true
		d.decode(target, v, path, depth+1)
		delete(d.active, target)
		return
	}

	switch v.Type() {
	case reflect.TypeFor[yaml.Node]():
		v.Set(reflect.ValueOf(*n))
		return
	case reflect.TypeFor[Duration](), reflect.TypeFor[time.Duration]():
		if isNull(n) {
			v.SetInt(0)
			return
		}
		s, ok := d.scalar(n, path, "a duration such as 90s, 30m or 720h")
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.addf(n.Line, path, "invalid duration %q: write a number with a unit, such as 90s, 30m or 720h", s)
			return
		}
		v.SetInt(int64(dur))
		return
	}

	if isNull(n) {
		v.SetZero()
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, depth+1)
		return
	}
	if v.CanAddr() {
		pt := v.Addr().Type()
		if pt.Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
			d.viaYAML(n, v.Addr().Interface(), path, depth)
			return
		}
		if pt.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			s, ok := d.scalar(n, path, "a scalar")
			if !ok {
				return
			}
			tu, _ := v.Addr().Interface().(encoding.TextUnmarshaler)
			if err := tu.UnmarshalText([]byte(s)); err != nil {
				d.addErr(n.Line, path, err, "invalid value %q", s)
			}
			return
		}
	}

	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, path, depth)
	case reflect.Map:
		d.mapValue(n, v, path, depth)
	case reflect.Slice:
		d.sliceValue(n, v, path, depth)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode {
			d.typeMismatch(n, path, "a list")
			return
		}
		if len(n.Content) != v.Len() {
			d.addf(n.Line, path, "expected a list of %d items, got %d", v.Len(), len(n.Content))
			return
		}
		for i, item := range n.Content {
			ip := path + "[" + strconv.Itoa(i) + "]"
			d.record(ip, item.Line)
			d.decode(item, v.Index(i), ip, depth+1)
		}
	case reflect.Interface:
		if v.NumMethod() != 0 {
			d.addf(n.Line, path, "internal error: cannot decode into interface %s", v.Type())
			return
		}
		var x any
		d.viaYAML(n, &x, path, depth)
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		s, ok := d.scalar(n, path, describeKind(v.Kind()))
		if !ok {
			return
		}
		if msg := setScalar(v, s); msg != "" {
			d.addf(n.Line, path, "%s", msg)
		}
	}
}

// scalar returns n's value with variables expanded, or reports why it is not a scalar.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.typeMismatch(n, path, want)
		return "", false
	}
	s, errs := expandVars(n.Value, d.getenv)
	for _, e := range errs {
		d.addf(n.Line, path, "%s", e)
	}
	return s, len(errs) == 0
}

func (d *decoder) typeMismatch(n *yaml.Node, path, want string) {
	d.addf(n.Line, path, "expected %s, got %s", want, describeNode(n))
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, depth int) {
	info := d.structInfo(v.Type())
	if n.Kind != yaml.MappingNode {
		d.typeMismatch(n, path, "a mapping")
		return
	}
	d.mergeKeys(n, v, path, depth)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		name, ok := d.keyName(k, path)
		if !ok {
			continue
		}
		kp := joinPath(path, name)
		if first, dup := seen[name]; dup {
			d.addf(k.Line, kp, "duplicate key %q (first at line %d)", name, first)
			continue
		}
		seen[name] = k.Line
		d.record(kp, k.Line)
		idx, known := info.fields[name]
		if !known {
			if fidx, base, ok := info.secretFileField(name); ok {
				if _, both := seen[base]; !both { // both: reported by checkSecretPairs
					d.readSecretFile(k, val, fieldByIndex(v, fidx), path, base)
				}
				continue
			}
			if info.inlineMap != nil {
				m := fieldByIndex(v, info.inlineMap)
				if m.IsNil() {
					m.Set(reflect.MakeMap(m.Type()))
				}
				d.mapEntry(m, k, val, kp, depth)
				continue
			}
			d.addf(k.Line, kp, "unknown key %q%s%s", name, suggest(name, info.names), secretFileHelp(name, info))
			continue
		}
		d.decode(val, fieldByIndex(v, idx), kp, depth+1)
	}
	d.checkSecretPairs(info, seen, path)
}

func (d *decoder) mapValue(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.typeMismatch(n, path, "a mapping")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.mergeKeys(n, v, path, depth)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		name, ok := d.keyName(k, path)
		if !ok {
			continue
		}
		kp := joinPath(path, name)
		if first, dup := seen[name]; dup {
			d.addf(k.Line, kp, "duplicate key %q (first at line %d)", name, first)
			continue
		}
		seen[name] = k.Line
		d.record(kp, k.Line)
		d.mapEntry(v, k, val, kp, depth)
	}
}

// mapEntry decodes one key (never expanded) and value into the map m.
func (d *decoder) mapEntry(m reflect.Value, k, val *yaml.Node, kp string, depth int) {
	kt := m.Type().Key()
	key := reflect.New(kt).Elem()
	switch {
	case kt.Kind() == reflect.String:
		key.SetString(k.Value)
	case kt.Kind() == reflect.Interface && kt.NumMethod() == 0:
		key.Set(reflect.ValueOf(k.Value))
	default:
		if msg := setScalar(key, k.Value); msg != "" {
			d.addf(k.Line, kp, "bad key: %s", msg)
			return
		}
	}
	elem := reflect.New(m.Type().Elem()).Elem()
	d.decode(val, elem, kp, depth+1)
	m.SetMapIndex(key, elem)
}

// mergeKeys applies YAML merge keys (<<: *anchor) of mapping n to v before its own keys.
func (d *decoder) mergeKeys(n *yaml.Node, v reflect.Value, path string, depth int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMergeKey(n.Content[i]) {
			continue
		}
		val := n.Content[i+1]
		if val.Kind == yaml.SequenceNode {
			// Earlier mappings win, so apply them last.
			for j := len(val.Content) - 1; j >= 0; j-- {
				d.decode(val.Content[j], v, path, depth+1)
			}
			continue
		}
		d.decode(val, v, path, depth+1)
	}
}

func (d *decoder) sliceValue(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		d.typeMismatch(n, path, "a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		d.record(ip, item.Line)
		d.decode(item, s.Index(i), ip, depth+1)
		if d.stopped {
			return
		}
	}
	v.Set(s)
}

// viaYAML lets yaml.v3 decode n into ptr (a custom yaml.Unmarshaler, or an untyped value)
// after expanding the variables in a copy of the subtree.
func (d *decoder) viaYAML(n *yaml.Node, ptr any, path string, depth int) {
	before := len(d.errs.Problems)
	cp := d.expandTree(n, path, depth)
	if cp == nil || len(d.errs.Problems) > before {
		return
	}
	if err := cp.Decode(ptr); err != nil {
		d.addErr(n.Line, path, err, "invalid value")
	}
}

// expandTree returns a deep copy of n with aliases resolved and every scalar value (not
// mapping keys) expanded. It returns nil when the limits are exceeded.
func (d *decoder) expandTree(n *yaml.Node, path string, depth int) *yaml.Node {
	d.steps++
	if d.stopped || d.steps > maxDecodeSteps || depth > maxDecodeDepth {
		if !d.stopped {
			d.stopped = true
			d.addf(n.Line, path, "document is too large or too deeply nested (aliases expand to too much)")
		}
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || d.active[n.Alias] {
			d.addf(n.Line, path, "alias *%s refers to its own anchor", n.Value)
			return nil
		}
		d.active[n.Alias] = true
		defer delete(d.active, n.Alias)
		return d.expandTree(n.Alias, path, depth+1)
	case yaml.ScalarNode:
		cp := *n
		cp.Anchor = ""
		s, ok := d.scalar(n, path, "a scalar")
		if ok && s != n.Value {
			cp.Value = s
			if cp.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				cp.Tag = "" // let yaml.v3 resolve the expanded text (e.g. a number)
			}
		}
		return &cp
	}
	cp := *n
	cp.Anchor = ""
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			kc := *c
			cp.Content[i] = &kc
			continue
		}
		sub := path
		switch n.Kind {
		case yaml.SequenceNode:
			sub = path + "[" + strconv.Itoa(i) + "]"
		case yaml.MappingNode:
			sub = joinPath(path, n.Content[i-1].Value)
		}
		e := d.expandTree(c, sub, depth+1)
		if e == nil {
			return nil
		}
		cp.Content[i] = e
	}
	return &cp
}

func (d *decoder) keyName(k *yaml.Node, path string) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		d.addf(k.Line, path, "a mapping key must be a plain word, got %s", describeNode(k))
		return "", false
	}
	return k.Value, true
}

// structInfo maps the yaml keys of a struct type to field indexes, as yaml.v3 does: the tag
// name, else the lowercased field name; ",inline" structs are flattened; "-" is skipped.
type structInfo struct {
	fields    map[string][]int
	names     []string
	inlineMap []int
	// secrets are the keys of string fields tagged `secret:"file"`: each may also be given
	// as <key>_file (see SecretFileSuffix).
	secrets map[string]bool
}

func (d *decoder) structInfo(t reflect.Type) *structInfo {
	if si, ok := d.structs[t]; ok {
		return si
	}
	si := &structInfo{fields: map[string][]int{}, secrets: map[string]bool{}}
	d.structs[t] = si
	d.collectFields(t, nil, si, 0)
	sort.Strings(si.names)
	return si
}

func (d *decoder) collectFields(t reflect.Type, prefix []int, si *structInfo, depth int) {
	if depth > 16 {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if hasOpt(opts, "inline") {
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Map && si.inlineMap == nil:
				si.inlineMap = idx
			case ft.Kind() == reflect.Struct:
				d.collectFields(ft, idx, si, depth+1)
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
				d.collectFields(ft.Elem(), idx, si, depth+1)
			}
			continue
		}
		if f.PkgPath != "" {
			continue // unexported embedded field without inline
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := si.fields[name]; dup {
			continue
		}
		si.fields[name] = idx
		si.names = append(si.names, name)
		if f.Tag.Get(secretTag) == "file" && f.Type.Kind() == reflect.String {
			si.secrets[name] = true
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// fieldByIndex is reflect.Value.FieldByIndex that allocates nil embedded pointers.
func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	for i, x := range idx {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// setScalar parses s into a basic kind; it returns a message on failure.
func setScalar(v reflect.Value, s string) string {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			return fmt.Sprintf("expected true or false, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			return fmt.Sprintf("expected an integer of %d bits, got %q", v.Type().Bits(), s)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			return fmt.Sprintf("expected a non-negative integer of %d bits, got %q", v.Type().Bits(), s)
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		switch strings.ToLower(s) {
		case ".inf", "+.inf":
			f = math.Inf(1)
		case "-.inf":
			f = math.Inf(-1)
		case ".nan":
			f = math.NaN()
		default:
			var err error
			if f, err = strconv.ParseFloat(s, v.Type().Bits()); err != nil {
				return fmt.Sprintf("expected a number, got %q", s)
			}
		}
		v.SetFloat(f)
	default:
		return fmt.Sprintf("internal error: cannot decode into a %s", v.Type())
	}
	return ""
}

func describeKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	}
	return "a value"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns ` (did you mean "x"?)` for the closest known key, or "".
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	if len(name) > 40 {
		return ""
	}
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		if len(known) == 0 {
			return ""
		}
		return " (known keys: " + strings.Join(known, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
