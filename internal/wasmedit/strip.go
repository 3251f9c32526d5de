package wasmedit

import "fmt"

// StripData returns a copy of module whose data section holds zero segments (and whose DataCount
// section, if present, says 0). Instantiating it leaves linear memory as the memory allocator
// supplied it, which is how a snapshot of an initialised interpreter is restored.
//
// It fails if the code uses memory.init or data.drop, because those refer to segments by index
// and stripping would change what they do.
func StripData(module []byte) ([]byte, error) {
	m, err := parseModule(module)
	if err != nil {
		return nil, err
	}
	im, err := m.scanImports("", "")
	if err != nil {
		return nil, err
	}
	if _, err := m.dataSegments(); err != nil {
		return nil, err
	}
	code, err := m.scanCode(im.funcs, want{tick: -1})
	if err != nil {
		return nil, err
	}
	if code.dataOp >= 0 {
		return nil, fmt.Errorf("wasmedit: cannot strip data segments: the code uses memory.init or data.drop (at offset %#x), which refer to segments by index", code.dataOp)
	}
	out := make([]byte, 0, len(module))
	out = append(out, header[:]...)
	for _, s := range m.sections {
		switch s.id {
		case secData, secDataCount:
			out = appendSection(out, s.id, []byte{0})
		default:
			out = append(out, m.b[s.start:s.end]...)
		}
	}
	return out, nil
}

// dataSegments decodes the data section and returns its segment count.
func (m *module) dataSegments() (uint32, error) {
	b := m.b
	sec, ok := m.section(secData)
	if !ok {
		return 0, nil
	}
	count, pos, err := readU32(b, sec.payload, sec.end)
	if err != nil {
		return 0, err
	}
	var s codeScan
	for i := count; i > 0; i-- {
		var flags uint32
		if flags, pos, err = readU32(b, pos, sec.end); err != nil {
			return 0, err
		}
		switch flags {
		case 0: // active in memory 0: offset expression
			pos, err = s.expr(b, pos, sec.end)
		case 1: // passive
		case 2: // active with memory index
			if pos, err = skipU32(b, pos, sec.end); err == nil {
				pos, err = s.expr(b, pos, sec.end)
			}
		default:
			return 0, malformed(pos, "data segment flags %d", flags)
		}
		if err == nil {
			_, pos, err = skipName(b, pos, sec.end)
		}
		if err != nil {
			return 0, err
		}
	}
	if pos != sec.end {
		return 0, malformed(pos, "bytes after the last data segment")
	}
	return count, nil
}

// Stats describes a module as the edits see it.
type Stats struct {
	Functions    int // functions defined in the module, excluding imports
	Imports      int // imported functions
	Loops        int // loop instructions, each of which Instrument checks (but a dispatch loop)
	BulkOps      int // memory.copy and memory.fill instructions, which Instrument turns into calls
	DataSegments int
	UsesDataOps  bool // memory.init or data.drop appear, so StripData would refuse
}

// Inspect decodes module as Instrument and StripData do and reports what it found.
func Inspect(module []byte) (Stats, error) {
	m, err := parseModule(module)
	if err != nil {
		return Stats{}, err
	}
	im, err := m.scanImports("", "")
	if err != nil {
		return Stats{}, err
	}
	segs, err := m.dataSegments()
	if err != nil {
		return Stats{}, err
	}
	code, err := m.scanCode(im.funcs, want{tick: -1})
	if err != nil {
		return Stats{}, err
	}
	return Stats{
		Functions:    len(code.bodies),
		Imports:      int(im.funcs),
		Loops:        code.loops,
		BulkOps:      code.bulkOps,
		DataSegments: int(segs),
		UsesDataOps:  code.dataOp >= 0,
	}, nil
}
