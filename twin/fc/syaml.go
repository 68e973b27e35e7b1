package fc

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// LoadOptions supplies what an s.yaml refers to but does not contain.
type LoadOptions struct {
	// Env resolves ${env(NAME)}, ${env('NAME')} and ${env.NAME}. The
	// process environment is never consulted.
	Env map[string]string
	// Vars sets or overrides top-level vars entries for ${vars.NAME}.
	Vars map[string]string
	// AccountID is the functions' account; empty means the account named
	// by each function's role ARN (acs:ram::<account>:role/<name>).
	AccountID string
	// Binary returns the executable of a loaded function; nil means
	// <code>/<handler> (go1; custom runtimes: <code>/<handler or bootstrap>),
	// with a relative code path taken from the s.yaml's directory.
	Binary func(fn Function, codeDir string) string
}

// LoadSYAML reads the fc3 functions of a Serverless Devs s.yaml (edition
// 3.0.0): resources.<name> with component fc3 and props as the fc3
// component's schema names them. Resources of other components and triggers
// other than timer are skipped. Errors name the yaml path (and line) of the
// missing or malformed value.
func LoadSYAML(path string, opts LoadOptions) ([]Function, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fc: s.yaml: %w", err)
	}
	fns, err := ParseSYAML(data, filepath.Dir(path), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fns, nil
}

// ParseSYAML is LoadSYAML on the bytes of an s.yaml; dir is the directory
// relative code paths are resolved against.
func ParseSYAML(data []byte, dir string, opts LoadOptions) ([]Function, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("fc: s.yaml: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("fc: s.yaml: empty document")
	}
	root := ynode{n: doc.Content[0], path: ""}
	if err := root.wantKind(yaml.MappingNode, "a mapping"); err != nil {
		return nil, err
	}
	if ed, ok := root.get("edition"); !ok {
		return nil, root.errorf("edition is missing (want 3.0.0)")
	} else if v, err := ed.str(); err != nil {
		return nil, err
	} else if v != "3.0.0" {
		return nil, ed.errorf("edition %q: want 3.0.0", v)
	}

	r := &resolver{env: opts.Env, vars: map[string]*yaml.Node{}}
	if vars, ok := root.get("vars"); ok {
		if err := vars.wantKind(yaml.MappingNode, "a mapping"); err != nil {
			return nil, err
		}
		if err := r.resolve(vars, false); err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(vars.n.Content); i += 2 {
			r.vars[vars.n.Content[i].Value] = vars.n.Content[i+1]
		}
	}
	for k, v := range opts.Vars {
		r.vars[k] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	}

	res, ok := root.get("resources")
	if !ok {
		return nil, root.errorf("resources is missing")
	}
	if err := res.wantKind(yaml.MappingNode, "a mapping"); err != nil {
		return nil, err
	}
	var fns []Function
	seen := map[string]string{}
	for i := 0; i+1 < len(res.n.Content); i += 2 {
		name := res.n.Content[i].Value
		rn := res.child(res.n.Content[i+1], name)
		if err := rn.wantKind(yaml.MappingNode, "a mapping"); err != nil {
			return nil, err
		}
		comp, ok := rn.get("component")
		if !ok {
			return nil, rn.errorf("component is missing")
		}
		c, err := comp.str()
		if err != nil {
			return nil, err
		}
		if c != "fc3" && !strings.HasPrefix(c, "fc3@") {
			continue
		}
		props, ok := rn.get("props")
		if !ok {
			return nil, rn.errorf("props is missing")
		}
		if err := r.resolve(props, true); err != nil {
			return nil, err
		}
		fn, err := functionFromProps(props, dir, opts)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[fn.Name]; dup {
			return nil, props.errorf("functionName %q is also the function of resources.%s", fn.Name, prev)
		}
		seen[fn.Name] = name
		fns = append(fns, fn)
	}
	return fns, nil
}

var roleAccount = regexp.MustCompile(`^acs:ram::([0-9]+):role/`)

func functionFromProps(p ynode, dir string, opts LoadOptions) (Function, error) {
	if err := p.wantKind(yaml.MappingNode, "a mapping"); err != nil {
		return Function{}, err
	}
	var fn Function
	var err error
	if fn.Region, err = p.reqStr("region"); err != nil {
		return fn, err
	}
	if fn.Name, err = p.reqStr("functionName"); err != nil {
		return fn, err
	}
	if !namePattern.MatchString(fn.Name) {
		n, _ := p.get("functionName")
		return fn, n.errorf("functionName %q: want a letter or underscore, then letters, digits, underscores or hyphens, at most 128", fn.Name)
	}
	if fn.Runtime, err = p.reqStr("runtime"); err != nil {
		return fn, err
	}
	custom := strings.HasPrefix(fn.Runtime, "custom")
	if fn.Runtime != "go1" && (!custom || fn.Runtime == "custom-container") {
		n, _ := p.get("runtime")
		return fn, n.errorf("runtime %q: the twin runs go1 and custom runtimes only", fn.Runtime)
	}
	if custom {
		fn.HandlerName, err = p.optStr("handler", "bootstrap")
	} else {
		fn.HandlerName, err = p.reqStr("handler")
	}
	if err != nil {
		return fn, err
	}
	codeDir, err := codePath(p)
	if err != nil {
		return fn, err
	}
	if !filepath.IsAbs(codeDir) {
		codeDir = filepath.Join(dir, codeDir)
	}

	timeout, err := p.optInt("timeout", 3, 1, 86400)
	if err != nil {
		return fn, err
	}
	fn.Timeout = time.Duration(timeout) * time.Second
	if fn.MemoryMB, err = p.optInt("memorySize", DefaultMemoryMB, 128, 32768); err != nil {
		return fn, err
	}
	if fn.MemoryMB%64 != 0 {
		n, _ := p.get("memorySize")
		return fn, n.errorf("memorySize %d: want a multiple of 64", fn.MemoryMB)
	}
	if fn.InstanceConcurrency, err = p.optInt("instanceConcurrency", 0, 1, MaxInstanceConcurrency); err != nil {
		return fn, err
	}
	if cc, ok := p.get("concurrencyConfig"); ok {
		if err := cc.wantKind(yaml.MappingNode, "a mapping {reservedConcurrency}"); err != nil {
			return fn, err
		}
		if fn.MaxInstances, err = cc.optInt("reservedConcurrency", 0, 1, DefaultMaxInstances); err != nil {
			return fn, err
		}
	}
	if fn.Role, err = p.optStr("role", ""); err != nil {
		return fn, err
	}
	fn.AccountID = opts.AccountID
	if fn.AccountID == "" {
		if m := roleAccount.FindStringSubmatch(fn.Role); m != nil {
			fn.AccountID = m[1]
		}
	}
	if ev, ok := p.get("environmentVariables"); ok {
		if err := ev.wantKind(yaml.MappingNode, "a mapping of names to strings"); err != nil {
			return fn, err
		}
		fn.Env = map[string]string{}
		for i := 0; i+1 < len(ev.n.Content); i += 2 {
			k := ev.n.Content[i].Value
			v, err := ev.child(ev.n.Content[i+1], k).str()
			if err != nil {
				return fn, err
			}
			fn.Env[k] = v
		}
	}
	if lc, ok := p.get("logConfig"); ok {
		if lc.n.Kind == yaml.ScalarNode && lc.n.Value == "auto" {
			fn.LogProject = "serverless-" + fn.Region + "-" + fn.AccountID
			fn.LogStore = "default-logs"
		} else {
			if err := lc.wantKind(yaml.MappingNode, `a mapping {project, logstore} or "auto"`); err != nil {
				return fn, err
			}
			if fn.LogProject, err = lc.reqStr("project"); err != nil {
				return fn, err
			}
			if fn.LogStore, err = lc.reqStr("logstore"); err != nil {
				return fn, err
			}
		}
	}
	if ac, ok := p.get("asyncInvokeConfig"); ok {
		if fn.AsyncInvokeConfig, err = asyncConfig(ac); err != nil {
			return fn, err
		}
	}
	if tr, ok := p.get("triggers"); ok {
		if fn.Triggers, fn.OSSTriggers, err = triggers(tr); err != nil {
			return fn, err
		}
	}
	if opts.Binary != nil {
		fn.Binary = opts.Binary(fn, codeDir)
	} else {
		fn.Binary = filepath.Join(codeDir, fn.HandlerName)
	}
	return fn, nil
}

// codePath reads props.code: a directory path, or {src, ...}.
func codePath(p ynode) (string, error) {
	c, ok := p.get("code")
	if !ok {
		return "", p.errorf("code is missing")
	}
	if c.n.Kind == yaml.MappingNode {
		return c.reqStr("src")
	}
	return c.str()
}

func asyncConfig(ac ynode) (AsyncInvokeConfig, error) {
	var cfg AsyncInvokeConfig
	if err := ac.wantKind(yaml.MappingNode, "a mapping"); err != nil {
		return cfg, err
	}
	if n, ok := ac.get("maxAsyncRetryAttempts"); ok {
		v, err := n.int()
		if err != nil {
			return cfg, err
		}
		if v < 0 || v > 8 {
			return cfg, n.errorf("maxAsyncRetryAttempts %d: want 0..8", v)
		}
		cfg.MaxAsyncRetryAttempts = &v
	}
	dc, ok := ac.get("destinationConfig")
	if !ok {
		return cfg, nil
	}
	if err := dc.wantKind(yaml.MappingNode, "a mapping"); err != nil {
		return cfg, err
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"onSuccess", &cfg.OnSuccess}, {"onFailure", &cfg.OnFailure}} {
		d, ok := dc.get(k.key)
		if !ok {
			continue
		}
		if err := d.wantKind(yaml.MappingNode, "a mapping {destination}"); err != nil {
			return cfg, err
		}
		arn, err := d.reqStr("destination")
		if err != nil {
			return cfg, err
		}
		if !strings.HasPrefix(arn, "acs:fc:") {
			n, _ := d.get("destination")
			return cfg, n.errorf("destination %q: the twin delivers to functions only (acs:fc:<region>:<account>:functions/<name>)", arn)
		}
		if _, _, _, err := ParseFunctionARN(arn); err != nil {
			n, _ := d.get("destination")
			return cfg, n.errorf("%v", err)
		}
		*k.dst = arn
	}
	return cfg, nil
}

var triggerTypes = map[string]bool{"cdn_events": true, "eventbridge": true, "http": true, "log": true, "mns_topic": true, "oss": true, "tablestore": true, "timer": true}

func triggers(tr ynode) ([]Timer, []OSSTrigger, error) {
	if err := tr.wantKind(yaml.SequenceNode, "a list"); err != nil {
		return nil, nil, err
	}
	var (
		out  []Timer
		osst []OSSTrigger
	)
	names := map[string]bool{}
	for i, tn := range tr.n.Content {
		t := ynode{n: tn, path: fmt.Sprintf("%s[%d]", tr.path, i)}
		if err := t.wantKind(yaml.MappingNode, "a mapping"); err != nil {
			return nil, nil, err
		}
		name, err := t.reqStr("triggerName")
		if err != nil {
			return nil, nil, err
		}
		if names[name] {
			n, _ := t.get("triggerName")
			return nil, nil, n.errorf("triggerName %q is used twice", name)
		}
		names[name] = true
		typ, err := t.reqStr("triggerType")
		if err != nil {
			return nil, nil, err
		}
		if !triggerTypes[typ] {
			n, _ := t.get("triggerType")
			return nil, nil, n.errorf("triggerType %q: want one of cdn_events, eventbridge, http, log, mns_topic, oss, tablestore, timer", typ)
		}
		cfg, ok := t.get("triggerConfig")
		if !ok {
			return nil, nil, t.errorf("triggerConfig is missing")
		}
		if typ == "oss" {
			o, err := ossTrigger(t, cfg, name)
			if err != nil {
				return nil, nil, err
			}
			osst = append(osst, o)
			continue
		}
		if typ != "timer" {
			continue
		}
		if err := cfg.wantKind(yaml.MappingNode, "a mapping"); err != nil {
			return nil, nil, err
		}
		timer := Timer{Name: name}
		if timer.CronExpression, err = cfg.reqStr("cronExpression"); err != nil {
			return nil, nil, err
		}
		if _, err := ParseCron(timer.CronExpression); err != nil {
			n, _ := cfg.get("cronExpression")
			return nil, nil, n.errorf("%v", err)
		}
		en, ok := cfg.get("enable")
		if !ok {
			return nil, nil, cfg.errorf("enable is missing")
		}
		if timer.Enable, err = en.bool(); err != nil {
			return nil, nil, err
		}
		if timer.Payload, err = cfg.optStr("payload", ""); err != nil {
			return nil, nil, err
		}
		out = append(out, timer)
	}
	return out, osst, nil
}

// ossTrigger reads an oss trigger: sourceArn (the bucket), triggerConfig
// events (fc3's event names) and filter.key prefix and suffix (both
// required by fc3's schema), invocationRole.
func ossTrigger(t, cfg ynode, name string) (OSSTrigger, error) {
	o := OSSTrigger{Name: name}
	var err error
	if o.SourceArn, err = t.reqStr("sourceArn"); err != nil {
		return o, err
	}
	if _, _, o.Bucket, err = ParseOSSSourceArn(o.SourceArn); err != nil {
		n, _ := t.get("sourceArn")
		return o, n.errorf("%v", err)
	}
	if o.InvocationRole, err = t.optStr("invocationRole", ""); err != nil {
		return o, err
	}
	if err := cfg.wantKind(yaml.MappingNode, "a mapping {events, filter}"); err != nil {
		return o, err
	}
	ev, ok := cfg.get("events")
	if !ok {
		return o, cfg.errorf("events is missing")
	}
	if err := ev.wantKind(yaml.SequenceNode, "a list of OSS event names"); err != nil {
		return o, err
	}
	for i, en := range ev.n.Content {
		e, err := ev.child(en, fmt.Sprintf("[%d]", i)).str()
		if err != nil {
			return o, err
		}
		if !slices.Contains(ossEventNames, e) {
			return o, ev.child(en, fmt.Sprintf("[%d]", i)).errorf("OSS event %q: want one of %s", e, strings.Join(ossEventNames, ", "))
		}
		o.Events = append(o.Events, e)
	}
	if len(o.Events) == 0 {
		return o, ev.errorf("events is empty")
	}
	f, ok := cfg.get("filter")
	if !ok {
		return o, cfg.errorf("filter is missing")
	}
	if err := f.wantKind(yaml.MappingNode, "a mapping {key: {prefix, suffix}}"); err != nil {
		return o, err
	}
	k, ok := f.get("key")
	if !ok {
		return o, f.errorf("key is missing")
	}
	if err := k.wantKind(yaml.MappingNode, "a mapping {prefix, suffix}"); err != nil {
		return o, err
	}
	for _, v := range []struct {
		key string
		dst *string
	}{{"prefix", &o.Prefix}, {"suffix", &o.Suffix}} {
		n, ok := k.get(v.key)
		if !ok {
			return o, k.errorf("%s is missing", v.key)
		}
		if *v.dst, err = n.str(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ynode is a yaml node with its path from the document root, for errors.
type ynode struct {
	n    *yaml.Node
	path string
}

func (y ynode) errorf(format string, args ...any) error {
	where := y.path
	if where == "" {
		where = "(document)"
	}
	return fmt.Errorf("fc: s.yaml: %s (line %d): %s", where, y.n.Line, fmt.Sprintf(format, args...))
}

func (y ynode) child(n *yaml.Node, key string) ynode {
	if y.path == "" {
		return ynode{n: n, path: key}
	}
	return ynode{n: n, path: y.path + "." + key}
}

func (y ynode) wantKind(k yaml.Kind, what string) error {
	if y.n.Kind != k {
		return y.errorf("want %s", what)
	}
	return nil
}

func (y ynode) get(key string) (ynode, bool) {
	if y.n.Kind != yaml.MappingNode {
		return ynode{}, false
	}
	for i := 0; i+1 < len(y.n.Content); i += 2 {
		if y.n.Content[i].Value == key {
			return y.child(y.n.Content[i+1], key), true
		}
	}
	return ynode{}, false
}

func (y ynode) str() (string, error) {
	if y.n.Kind != yaml.ScalarNode || y.n.Tag == "!!null" {
		return "", y.errorf("want a string")
	}
	return y.n.Value, nil
}

func (y ynode) int() (int, error) {
	if y.n.Kind != yaml.ScalarNode {
		return 0, y.errorf("want an integer")
	}
	v, err := strconv.Atoi(y.n.Value)
	if err != nil {
		return 0, y.errorf("want an integer, got %q", y.n.Value)
	}
	return v, nil
}

func (y ynode) bool() (bool, error) {
	if y.n.Kind == yaml.ScalarNode {
		switch strings.ToLower(y.n.Value) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, y.errorf("want true or false, got %q", y.n.Value)
}

func (y ynode) reqStr(key string) (string, error) {
	c, ok := y.get(key)
	if !ok {
		return "", y.errorf("%s is missing", key)
	}
	v, err := c.str()
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", c.errorf("%s is empty", key)
	}
	return v, nil
}

func (y ynode) optStr(key, def string) (string, error) {
	c, ok := y.get(key)
	if !ok {
		return def, nil
	}
	return c.str()
}

func (y ynode) optInt(key string, def, lo, hi int) (int, error) {
	c, ok := y.get(key)
	if !ok {
		return def, nil
	}
	v, err := c.int()
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, c.errorf("%s %d: want %d..%d", key, v, lo, hi)
	}
	return v, nil
}

// resolver substitutes ${env(...)}, ${env.X} and ${vars.x.y} in scalars.
type resolver struct {
	env  map[string]string
	vars map[string]*yaml.Node
}

var refPattern = regexp.MustCompile(`\$\{([^}]*)\}`)

// resolve rewrites every scalar under y in place. withVars allows
// ${vars...} references (not inside vars itself).
func (r *resolver) resolve(y ynode, withVars bool) error {
	switch y.n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(y.n.Content); i += 2 {
			if err := r.resolve(y.child(y.n.Content[i+1], y.n.Content[i].Value), withVars); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range y.n.Content {
			if err := r.resolve(ynode{n: c, path: fmt.Sprintf("%s[%d]", y.path, i)}, withVars); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(y.n.Value, "${") {
			return nil
		}
		v := y.n.Value
		// A value that is one reference to a non-scalar var takes the
		// var's structure.
		if m := refPattern.FindStringSubmatchIndex(v); m != nil && m[0] == 0 && m[1] == len(v) {
			node, err := r.lookup(y, strings.TrimSpace(v[m[2]:m[3]]), withVars)
			if err != nil {
				return err
			}
			if node.Kind != yaml.ScalarNode {
				line := y.n.Line
				*y.n = *deepCopy(node)
				y.n.Line = line
				return nil
			}
			y.n.Value, y.n.Tag, y.n.Style = node.Value, node.Tag, 0
			return nil
		}
		var firstErr error
		out := refPattern.ReplaceAllStringFunc(v, func(ref string) string {
			node, err := r.lookup(y, strings.TrimSpace(ref[2:len(ref)-1]), withVars)
			if err == nil && node.Kind != yaml.ScalarNode {
				err = y.errorf("%s is not a string and cannot be part of %q", ref, v)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return ""
			}
			return node.Value
		})
		if firstErr != nil {
			return firstErr
		}
		if strings.Contains(out, "${") {
			return y.errorf("malformed reference in %q (want ${env(NAME)} or ${vars.name})", v)
		}
		y.n.Value, y.n.Tag, y.n.Style = out, "!!str", 0
	case yaml.AliasNode:
		// Anchors are shared; their target is resolved where it is defined.
	}
	return nil
}

var envCall = regexp.MustCompile(`^env\(\s*(?:'([^']*)'|"([^"]*)"|([A-Za-z_][A-Za-z0-9_]*))\s*\)$`)

func (r *resolver) lookup(y ynode, expr string, withVars bool) (*yaml.Node, error) {
	var envName string
	switch {
	case envCall.MatchString(expr):
		m := envCall.FindStringSubmatch(expr)
		envName = m[1] + m[2] + m[3]
	case strings.HasPrefix(expr, "env."):
		envName = strings.TrimPrefix(expr, "env.")
	case strings.HasPrefix(expr, "vars."):
		if !withVars {
			return nil, y.errorf("${%s}: vars may not refer to vars", expr)
		}
		parts := strings.Split(strings.TrimPrefix(expr, "vars."), ".")
		node, ok := r.vars[parts[0]]
		for _, p := range parts[1:] {
			if !ok {
				break
			}
			node, ok = ynode{n: node}.getNode(p)
		}
		if !ok || node == nil {
			return nil, y.errorf("${%s}: vars.%s is not defined", expr, strings.Join(parts, "."))
		}
		return node, nil
	default:
		return nil, y.errorf("${%s}: unsupported reference (want ${env(NAME)}, ${env.NAME} or ${vars.name})", expr)
	}
	if envName == "" {
		return nil, y.errorf("${%s}: empty environment variable name", expr)
	}
	v, ok := r.env[envName]
	if !ok {
		return nil, y.errorf("${%s}: environment variable %s is not set", expr, envName)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
}

func (y ynode) getNode(key string) (*yaml.Node, bool) {
	c, ok := y.get(key)
	return c.n, ok
}

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = deepCopy(k)
	}
	return &c
}
