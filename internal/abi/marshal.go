package abi

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// JSON crosses the boundary as CPython's marshal format, version 2 (no
// references), converted here: marshal's C code loads and dumps a value
// 4-6x faster than json's in the guest (a 1 KB list of records: 8.5 µs
// against 37 µs to load, 5.8 against 40 to dump, under wazero), and Go
// converts faster still. Only the shapes JSON has are converted. Anything
// else is refused, so that the caller can take the JSON way, which says
// exactly what Python says: the conversion must never be a second
// definition of Python's json.

// Marshal type codes (CPython's Python/marshal.c).
const (
	mNull  = '0'
	mNone  = 'N'
	mFalse = 'F'
	mTrue  = 'T'
	mInt   = 'i' // int32
	mLong  = 'l' // int32 count of 15-bit digits, signed; the digits, little end first
	mFloat = 'g' // float64, little-endian
	mStr   = 'u' // int32 length, UTF-8 (surrogates passed)
	mTuple = '('
	mList  = '['
	mDict  = '{' // key, value, ..., mNull
)

// marshalDepth bounds nesting both ways: deeper values take the JSON way,
// whose limits (the interpreter's recursion limit) are Python's own.
const marshalDepth = 200

// KindMarshalArgs is or-ed into KindCallJSON or KindCallStream when b holds
// the arguments marshalled by JSONToMarshal instead of JSON.
const KindMarshalArgs Kind = 0x100

// HostJSON is the control host call whose argument is a value marshalled by
// the guest (marshal.dumps(v, 2)) and whose answer is that value as Python's
// json.dumps(v, separators=(",", ":"), allow_nan=False) writes it, or an
// error when MarshalToJSON refuses it (the guest then encodes it itself).
const HostJSON = ReservedPrefix + "json"

// JSONToMarshal appends to dst the JSON value js in marshal's format, as
// json.loads would decode it. ok is false for what it leaves to Python's
// json: invalid JSON, integers of more than 18 digits (Python's limit on
// digits is a setting of the guest's), numbers out of float64's range, raw
// strings that are not UTF-8, nesting deeper than 200.
func JSONToMarshal(dst, js []byte) (out []byte, ok bool) {
	p := jsonParser{s: js, out: dst}
	if !p.value(0) {
		return dst, false
	}
	p.space()
	if p.i != len(p.s) {
		return dst, false
	}
	return p.out, true
}

type jsonParser struct {
	s   []byte
	i   int
	out []byte
}

func (p *jsonParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) lit(word string, code byte) bool {
	if len(p.s)-p.i < len(word) || string(p.s[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	p.out = append(p.out, code)
	return true
}

func (p *jsonParser) value(depth int) bool {
	if depth > marshalDepth {
		return false
	}
	p.space()
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == 'n':
		return p.lit("null", mNone)
	case c == 't':
		return p.lit("true", mTrue)
	case c == 'f':
		return p.lit("false", mFalse)
	case c == '"':
		p.out = append(p.out, mStr)
		return p.str()
	case c == '[':
		p.i++
		p.out = append(p.out, mList, 0, 0, 0, 0)
		at, n := len(p.out)-4, uint32(0)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return true
		}
		for {
			if !p.value(depth + 1) {
				return false
			}
			n++
			p.space()
			if p.i >= len(p.s) {
				return false
			}
			p.i++
			switch p.s[p.i-1] {
			case ',':
				continue
			case ']':
				binary.LittleEndian.PutUint32(p.out[at:], n)
				return true
			}
			return false
		}
	case c == '{':
		p.i++
		p.out = append(p.out, mDict)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			p.out = append(p.out, mNull)
			return true
		}
		for {
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return false
			}
			p.out = append(p.out, mStr)
			if !p.str() {
				return false
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return false
			}
			p.i++
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.i >= len(p.s) {
				return false
			}
			p.i++
			switch p.s[p.i-1] {
			case ',':
				continue
			case '}':
				p.out = append(p.out, mNull)
				return true
			}
			return false
		}
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return false
}

func (p *jsonParser) number() bool {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 1 && p.s[digits] == '0' {
		return false
	}
	isFloat := false
	if p.i < len(p.s) && p.s[p.i] == '.' {
		isFloat = true
		p.i++
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		isFloat = true
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return false
		}
	}
	text := p.s[start:p.i]
	if isFloat {
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil { // out of range: Python's float() has its own answer
			return false
		}
		p.out = append(p.out, mFloat)
		p.out = binary.LittleEndian.AppendUint64(p.out, math.Float64bits(f))
		return true
	}
	if n > 18 {
		return false
	}
	v, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil {
		return false
	}
	p.out = appendMarshalInt(p.out, v)
	return true
}

// appendMarshalInt writes v as marshal does on wasm32, whose C long is 32
// bits: mInt when it fits, mLong otherwise.
func appendMarshalInt(out []byte, v int64) []byte {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		out = append(out, mInt)
		return binary.LittleEndian.AppendUint32(out, uint32(int32(v)))
	}
	mag := uint64(v)
	if v < 0 {
		mag = -mag
	}
	var digits [5]uint16
	n := 0
	for ; mag != 0; n++ {
		digits[n] = uint16(mag & 0x7fff)
		mag >>= 15
	}
	count := int32(n)
	if v < 0 {
		count = -count
	}
	out = append(out, mLong)
	out = binary.LittleEndian.AppendUint32(out, uint32(count))
	for _, d := range digits[:n] {
		out = binary.LittleEndian.AppendUint16(out, d)
	}
	return out
}

// str converts the JSON string at p.i (its opening quote) into a length and
// its UTF-8, a lone surrogate escape encoded as Python's "surrogatepass"
// does.
func (p *jsonParser) str() bool {
	p.i++
	at := len(p.out)
	p.out = append(p.out, 0, 0, 0, 0)
	for {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != '"' && p.s[p.i] != '\\' && p.s[p.i] >= 0x20 {
			p.i++
		}
		raw := p.s[start:p.i]
		if !utf8.Valid(raw) {
			return false
		}
		p.out = append(p.out, raw...)
		if p.i >= len(p.s) || p.s[p.i] < 0x20 {
			return false
		}
		if p.s[p.i] == '"' {
			p.i++
			binary.LittleEndian.PutUint32(p.out[at:], uint32(len(p.out)-at-4))
			return true
		}
		p.i++ // the backslash
		if p.i >= len(p.s) {
			return false
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			p.out = append(p.out, e)
		case 'b':
			p.out = append(p.out, '\b')
		case 'f':
			p.out = append(p.out, '\f')
		case 'n':
			p.out = append(p.out, '\n')
		case 'r':
			p.out = append(p.out, '\r')
		case 't':
			p.out = append(p.out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return false
			}
			if r >= 0xd800 && r < 0xdc00 && p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				lo, ok := p.hex4()
				if ok && lo >= 0xdc00 && lo < 0xe000 {
					r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				} else {
					p.i = save // a lone high surrogate; the next escape stands alone
				}
			}
			p.out = appendWTF8(p.out, r)
		default:
			return false
		}
	}
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.s[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// appendWTF8 is utf8.AppendRune that also writes surrogates (which it
// would replace), as Python's "surrogatepass" error handler does.
func appendWTF8(out []byte, r rune) []byte {
	if r >= 0xd800 && r < 0xe000 {
		return append(out, byte(0xe0|r>>12), byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
	}
	return utf8.AppendRune(out, r)
}

// ErrNotJSON is what MarshalToJSON returns for a value it leaves to
// Python's json: not one of JSON's shapes as json.dumps writes them, or
// not marshal's format at all.
var ErrNotJSON = errors.New("snakepit: not a value the host converts to JSON")

// ErrJSONTooLarge is MarshalToJSON's error when the JSON would pass max.
var ErrJSONTooLarge = errors.New("snakepit: the value's JSON is over the result limit")

// MarshalToJSON appends to dst the value that marshal.dumps(v, 2) wrote in
// m, as json.dumps(v, separators=(",", ":"), allow_nan=False) writes it
// (ASCII, Python's float repr). It refuses (ErrNotJSON) sets, bytes,
// complex numbers, code, NaN and the infinities, dict keys json would not
// take, integers over 60 bits, nesting deeper than 200, and anything
// malformed, so that the guest's json raises or decides; and when the
// JSON would pass max bytes (ErrJSONTooLarge). m comes from the guest:
// every length is checked against what is left.
func MarshalToJSON(dst, m []byte, max int) ([]byte, error) {
	c := marshalReader{m: m, out: dst, max: len(dst) + max}
	if err := c.value(0); err != nil {
		return dst, err
	}
	if c.i != len(c.m) {
		return dst, ErrNotJSON
	}
	return c.out, nil
}

type marshalReader struct {
	m   []byte
	i   int
	out []byte
	max int
}

func (c *marshalReader) u32() (uint32, bool) {
	if len(c.m)-c.i < 4 {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(c.m[c.i:])
	c.i += 4
	return v, true
}

// count reads a length or item count: non-negative, and at most what is
// left (each item takes at least one byte).
func (c *marshalReader) count() (int, bool) {
	v, ok := c.u32()
	if !ok || int64(int32(v)) < 0 || int64(v) > int64(len(c.m)-c.i) {
		return 0, false
	}
	return int(v), true
}

func (c *marshalReader) value(depth int) error {
	if depth > marshalDepth || c.i >= len(c.m) {
		return ErrNotJSON
	}
	code := c.m[c.i]
	c.i++
	switch code {
	case mNone:
		c.out = append(c.out, "null"...)
	case mTrue:
		c.out = append(c.out, "true"...)
	case mFalse:
		c.out = append(c.out, "false"...)
	case mInt, mLong, mFloat:
		if !c.scalar(code) {
			return ErrNotJSON
		}
	case mStr:
		n, ok := c.count()
		if !ok {
			return ErrNotJSON
		}
		if err := c.quote(c.m[c.i : c.i+n]); err != nil {
			return err
		}
		c.i += n
	case mList, mTuple:
		n, ok := c.count()
		if !ok {
			return ErrNotJSON
		}
		c.out = append(c.out, '[')
		for k := range n {
			if k > 0 {
				c.out = append(c.out, ',')
			}
			if err := c.value(depth + 1); err != nil {
				return err
			}
		}
		c.out = append(c.out, ']')
	case mDict:
		c.out = append(c.out, '{')
		for k := 0; ; k++ {
			if c.i >= len(c.m) {
				return ErrNotJSON
			}
			if c.m[c.i] == mNull {
				c.i++
				break
			}
			if k > 0 {
				c.out = append(c.out, ',')
			}
			if err := c.key(); err != nil {
				return err
			}
			c.out = append(c.out, ':')
			if err := c.value(depth + 1); err != nil {
				return err
			}
		}
		c.out = append(c.out, '}')
	default:
		return ErrNotJSON
	}
	if len(c.out) > c.max {
		return ErrJSONTooLarge
	}
	return nil
}

// key writes a dict key as json.dumps does: a str as it is; a number, True,
// False and None as their JSON text, quoted.
func (c *marshalReader) key() error {
	code := c.m[c.i]
	switch code {
	case mStr:
		return c.value(0)
	case mInt, mLong, mFloat, mTrue, mFalse, mNone:
		c.out = append(c.out, '"')
		if err := c.value(0); err != nil {
			return err
		}
		c.out = append(c.out, '"')
		return nil
	}
	return ErrNotJSON
}

func (c *marshalReader) scalar(code byte) bool {
	switch code {
	case mInt:
		v, ok := c.u32()
		if ok {
			c.out = strconv.AppendInt(c.out, int64(int32(v)), 10)
		}
		return ok
	case mLong:
		v, ok := c.u32()
		n := int32(v)
		if !ok || n == 0 || n < -4 || n > 4 {
			return false // 0 digits is never written; over 60 bits is left to Python
		}
		neg := n < 0
		if neg {
			n = -n
		}
		if len(c.m)-c.i < 2*int(n) {
			return false
		}
		var mag uint64
		for k := int(n) - 1; k >= 0; k-- {
			d := binary.LittleEndian.Uint16(c.m[c.i+2*k:])
			if d >= 1<<15 {
				return false
			}
			mag = mag<<15 | uint64(d)
		}
		c.i += 2 * int(n)
		if neg {
			c.out = append(c.out, '-')
		}
		c.out = strconv.AppendUint(c.out, mag, 10)
		return true
	case mFloat:
		if len(c.m)-c.i < 8 {
			return false
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(c.m[c.i:]))
		c.i += 8
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false // allow_nan=False raises, with its own message
		}
		c.out = AppendPyFloat(c.out, f)
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

// quote writes s, UTF-8 with surrogates passed, as json's ensure_ascii
// encoder does: printable ASCII as is but for " and \, the short escapes
// \b \f \n \r \t, and \u with lowercase hex for the rest, a character
// past U+FFFF as its surrogate pair. The JSON is up to 6 times s: the bound
// is checked before the copy and after each escape.
func (c *marshalReader) quote(s []byte) error {
	if len(c.out)+len(s) > c.max {
		return ErrJSONTooLarge
	}
	c.out = append(c.out, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b <= 0x7e && b != '"' && b != '\\' {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x7e && s[j] != '"' && s[j] != '\\' {
				j++
			}
			c.out = append(c.out, s[i:j]...)
			i = j
			continue
		}
		var r rune
		if b < 0x80 {
			r = rune(b)
			i++
		} else {
			var n int
			if r, n = decodeWTF8(s[i:]); n == 0 {
				return ErrNotJSON
			}
			i += n
		}
		switch r {
		case '"', '\\':
			c.out = append(c.out, '\\', byte(r))
		case '\b':
			c.out = append(c.out, '\\', 'b')
		case '\f':
			c.out = append(c.out, '\\', 'f')
		case '\n':
			c.out = append(c.out, '\\', 'n')
		case '\r':
			c.out = append(c.out, '\\', 'r')
		case '\t':
			c.out = append(c.out, '\\', 't')
		default:
			if r >= 0x10000 {
				r -= 0x10000
				c.out = appendU(c.out, 0xd800|(r>>10))
				r = 0xdc00 | r&0x3ff
			}
			c.out = appendU(c.out, r)
		}
		if len(c.out) > c.max {
			return ErrJSONTooLarge
		}
	}
	c.out = append(c.out, '"')
	return nil
}

func appendU(out []byte, r rune) []byte {
	return append(out, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// decodeWTF8 decodes one character of UTF-8 that may hold surrogates;
// n is 0 for anything else (overlong forms, bytes past U+10FFFF).
func decodeWTF8(s []byte) (r rune, n int) {
	if len(s) >= 3 && s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2]&0xc0 == 0x80 {
		return rune(s[0]&0x0f)<<12 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f), 3
	}
	r, n = utf8.DecodeRune(s)
	if r == utf8.RuneError && n <= 1 {
		return 0, 0
	}
	return r, n
}

// AppendPyFloat appends f (finite) as Python's repr(f) writes it: the
// shortest digits that read back as f, positional from 1e-4 to below 1e16
// with ".0" on a whole number, otherwise d.ddde±XX.
func AppendPyFloat(out []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(out, "-0.0"...)
		}
		return append(out, "0.0"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±XX
	if e[0] == '-' {
		out = append(out, '-')
		e = e[1:]
	}
	x := 0
	for x < len(e) && e[x] != 'e' {
		x++
	}
	exp, _ := strconv.Atoi(string(e[x+1:]))
	var digits [24]byte
	d := append(digits[:0], e[0])
	if x > 1 {
		d = append(d, e[2:x]...)
	}
	decpt := exp + 1 // the value is 0.DIGITS × 10^decpt
	switch {
	case decpt <= -4 || decpt > 16:
		out = append(out, d[0])
		if len(d) > 1 {
			out = append(out, '.')
			out = append(out, d[1:]...)
		}
		out = append(out, 'e')
		if exp < 0 {
			out = append(out, '-')
			exp = -exp
		} else {
			out = append(out, '+')
		}
		if exp < 10 {
			out = append(out, '0')
		}
		return strconv.AppendInt(out, int64(exp), 10)
	case decpt <= 0:
		out = append(out, "0."...)
		for range -decpt {
			out = append(out, '0')
		}
		return append(out, d...)
	case decpt >= len(d):
		out = append(out, d...)
		for range decpt - len(d) {
			out = append(out, '0')
		}
		return append(out, ".0"...)
	}
	out = append(out, d[:decpt]...)
	out = append(out, '.')
	return append(out, d[decpt:]...)
}
