package statefile

import (
	"gopkg.in/yaml.v3"

	"github.com/meterd/meterd/internal/controls"
)

// controls decodes the controls key: the test controls meterd starts with
// (docs/state-file.md). Types are checked here; the values' rules
// (controls.Settings.Validate) are reported at the keys they concern.
func (p *parser) controls(path string, n *yaml.Node) {
	var s controls.Settings
	if !p.object(path, n, true, fields{
		"clock": func(k string, v *yaml.Node) {
			p.object(k, v, true, fields{
				"offset":    func(k string, v *yaml.Node) { s.Clock.Offset, _ = p.duration(k, v) },
				"frozen_at": func(k string, v *yaml.Node) { s.Clock.Frozen = p.time(k, v) },
			})
		},
		"faults": func(k string, v *yaml.Node) { p.list(k, v, func(k string, v *yaml.Node) { p.fault(k, v, &s) }) },
		"quotas": func(k string, v *yaml.Node) {
			p.object(k, v, true, fields{
				"enabled": func(k string, v *yaml.Node) { s.Quotas.Enabled, _ = p.boolean(k, v) },
				"per_second": func(k string, v *yaml.Node) {
					v = p.resolve(v)
					if v == nil || isNull(v) {
						return
					}
					if v.Kind != yaml.MappingNode {
						p.errorf(v, k, "expected a mapping of operation to calls per second, got %s", kind(v))
						return
					}
					s.Quotas.PerSecond = map[string]float64{}
					for _, kv := range p.pairs(k, v, 0) {
						kp := joinPath(k, kv.key)
						p.pos[kp] = p.at(kv.keyAt)
						if r, ok := p.double(kp, kv.val); ok {
							s.Quotas.PerSecond[kv.key] = r
						}
					}
				},
			})
		},
	}) {
		return
	}
	if err := s.Validate(); err != nil {
		for _, pr := range err.(*controls.Error).Problems {
			kp := path + "." + pr.Path
			p.errs = append(p.errs, &Error{Pos: p.nearest(kp), Path: kp, Message: pr.Message})
		}
		return
	}
	p.ctl = &s
}

func (p *parser) fault(path string, n *yaml.Node, s *controls.Settings) {
	var f controls.Fault
	rate := func(dst *float64) func(string, *yaml.Node) {
		return func(k string, v *yaml.Node) { *dst, _ = p.double(k, v) }
	}
	if p.object(path, n, false, fields{
		"operation":           func(k string, v *yaml.Node) { f.Operation = p.str(k, v) },
		"account":             func(k string, v *yaml.Node) { f.Account = p.str(k, v) },
		"throttle_rate":       rate(&f.ThrottleRate),
		"internal_error_rate": rate(&f.InternalErrorRate),
		"unprocessed_rate":    rate(&f.UnprocessedRate),
		"latency":             func(k string, v *yaml.Node) { f.Latency, _ = p.duration(k, v) },
	}) {
		s.Faults = append(s.Faults, f)
	}
}

// nearest is where the key path, or its nearest enclosing key, is written.
func (p *parser) nearest(path string) Position {
	for k := path; k != ""; k = parentPath(k) {
		if pos, ok := p.pos[k]; ok {
			return pos
		}
	}
	return Position{File: p.name}
}
