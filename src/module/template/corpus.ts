/**
 * The hand-written differential corpus: templates that the tests render with Go's engine and ours,
 * against the data below, expecting the same output or the same error message.
 */
export const corpusData = {
  s: 'str', e: '', n: 3, z: 0, f: 2.5, neg: -7.25, big: 1000000, tiny: 0.00001, t: true, fa: false, c: null,
  a: [1, null, 'x'], ea: [], m: { k: 'v', b: [1], n: { deep: 'yes' } }, em: {},
  Message: 'hello "world"', Prompt: 'a cat', Seed: '42', u: 'héllo wörld', html: '<b>&\'"</b>',
  list: ['b', 'a', 'c'], nums: [3, 1, 2], people: [{ name: 'Ann', age: 31 }, { name: 'Bob', age: 27 }],
};

const hand: string[] = [
  // text, comments, trim markers
  'plain text', '', 'a {{/* comment */}} b', 'a {{- /* c */ -}} b', '{{/* multi\nline */}}x', 'a  {{- .s}}', '{{.s -}}   b',
  'a \n\t {{- .s -}} \n\t b', '{{- .s}}', '{{.s -}}', '{{"x" -}}\n\n{{- "y"}}', '{{- 3 }}', '{{ -3 }}', '{{3 -}}{{- 4}}',
  '{{/* unclosed', '{{/* x */ }}', '{{/*x*/ -}}  y', 'x}}y', '}}{{.s}}{{', '{{', '{{}}', '{{ }}', '{{.s}', '{{.s}}}',
  // fields and map keys
  '{{.s}}', '{{.n}}', '{{.f}}', '{{.neg}}', '{{.big}}', '{{.tiny}}', '{{.t}}', '{{.fa}}', '{{.c}}', '{{.a}}', '{{.ea}}',
  '{{.m}}', '{{.em}}', '{{.m.k}}', '{{.m.n.deep}}', '{{.m.b}}', '{{.missing}}', '{{.m.missing}}', '{{.c.x}}', '{{.s.x}}',
  '{{.n.x}}', '{{.a.x}}', '{{.}}', '{{$}}', '{{$.s}}', '{{$.m.k}}', '{{.Message}}', '{{.u}}', '{{.people}}',
  '{{.s 1}}', '{{.m.k "x"}}', '{{. 1}}', '{{"s" 1}}', '{{(.m).k}}', '{{(.m).n.deep}}', '{{(index .people 0).name}}',
  '{{(.s).x}}', '{{(nil).x}}', '{{1.x}}', '{{"a".b}}', '{{true.x}}', '{{..}}', '{{.s.}}', '{{.1}}', '{{.a1}}', '{{.m.k.}}',
  // constants
  '{{1}}', '{{-1}}', '{{+1}}', '{{1.0}}', '{{1.5}}', '{{1e3}}', '{{1e21}}', '{{1e-5}}', '{{0x1F}}', '{{0X1f}}', '{{0o17}}',
  '{{017}}', '{{0b101}}', '{{1_000_000}}', '{{0x1p4}}', "{{'a'}}", "{{'\\n'}}", "{{'\\''}}", "{{'é'}}", '{{"a\\tb"}}',
  '{{"\\u00e9"}}', '{{"\\x41"}}', '{{"\\101"}}', '{{`raw\\n`}}', '{{true}}', '{{false}}', '{{nil}}', '{{9223372036854775807}}',
  '{{9223372036854775808}}', '{{18446744073709551616}}', '{{1e400}}', '{{1x}}', '{{1.2.3}}', '{{0x}}', '{{"unterminated}}',
  '{{`unterminated}}', "{{'ab'}}", "{{''}}", '{{"\\q"}}', '{{1+2}}', '{{.5}}', '{{-.5}}', '{{1.}}', '{{00}}', '{{08}}',
  // variables
  '{{$x := 1}}{{$x}}', '{{$x := .s}}{{$x}}', '{{$x := 1}}{{$x = 2}}{{$x}}', '{{$x}}', '{{$x := .m}}{{$x.k}}',
  '{{$x := .m}}{{$x.n.deep}}', '{{$x, $y := 1}}', '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}',
  '{{if true}}{{$x := 2}}{{end}}{{$x}}', '{{$x := 1}}{{with $x := 2}}{{$x}}{{end}}{{$x}}', '{{$ := 1}}', '{{$x = 1}}',
  '{{$x := 1 | printf "%d"}}{{$x}}', '{{$x := .c}}{{$x}}', '{{$x := .a}}{{len $x}}', '{{$.s | printf "%s"}}',
  // if / else if / else
  '{{if .t}}y{{end}}', '{{if .fa}}y{{else}}n{{end}}', '{{if .e}}y{{else}}n{{end}}', '{{if .s}}y{{else}}n{{end}}',
  '{{if .z}}y{{else}}n{{end}}', '{{if .n}}y{{else}}n{{end}}', '{{if .c}}y{{else}}n{{end}}', '{{if .ea}}y{{else}}n{{end}}',
  '{{if .a}}y{{else}}n{{end}}', '{{if .em}}y{{else}}n{{end}}', '{{if .m}}y{{else}}n{{end}}', '{{if 0}}y{{else}}n{{end}}',
  '{{if 0.0}}y{{else}}n{{end}}', '{{if ""}}y{{else}}n{{end}}', '{{if nil}}y{{end}}', '{{if .fa}}a{{else if .t}}b{{else}}c{{end}}',
  '{{if .fa}}a{{else if .e}}b{{else if .n}}c{{end}}', '{{if}}{{end}}', '{{if .t}}', '{{if .t}}{{else}}{{else}}{{end}}',
  '{{end}}', '{{else}}', '{{if .t}}x{{end}}{{end}}', '{{if .Message}}{{.Message}}{{else}}"default"{{end}}',
  '{{if not .t}}y{{else}}n{{end}}', '{{if and .t .s}}y{{end}}', '{{if or .fa .e}}y{{else}}n{{end}}',
  '{{if .t}}{{if .fa}}a{{else}}b{{end}}{{end}}', '{{if .t -}}  x  {{- end}}', '{{if eq .s "str"}}same{{end}}',
  // with
  '{{with .m}}{{.k}}{{end}}', '{{with .e}}y{{else}}n{{end}}', '{{with .missingish}}{{end}}', '{{with $x := .s}}{{$x}}{{.}}{{end}}',
  '{{with .fa}}a{{else with .s}}{{.}}{{end}}', '{{with .fa}}a{{else with .e}}b{{else}}c{{end}}', '{{with .c}}y{{else}}n{{end}}',
  '{{with .m.n}}{{.deep}}{{$.s}}{{end}}', '{{with}}{{end}}', '{{with .a}}{{index . 2}}{{end}}',
  // range
  '{{range .a}}[{{.}}]{{end}}', '{{range .ea}}x{{else}}empty{{end}}', '{{range .list}}{{.}}{{end}}', '{{range $i, $v := .list}}{{$i}}:{{$v}} {{end}}',
  '{{range $v := .list}}{{$v}}{{end}}', '{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}', '{{range .m}}{{.}};{{end}}',
  '{{range .em}}x{{else}}none{{end}}', '{{range 3}}{{.}}{{end}}', '{{range $i := 3}}{{$i}}{{end}}', '{{range 0}}x{{else}}zero{{end}}',
  '{{range $i, $v := 3}}{{end}}', '{{range .n}}{{end}}', '{{range .f}}{{end}}', '{{range .s}}{{end}}', '{{range .t}}{{end}}',
  '{{range .c}}x{{else}}nil{{end}}', '{{range .people}}{{.name}}({{.age}}) {{end}}', '{{range .a}}{{.x}}{{end}}',
  '{{range .list}}{{if eq . "a"}}{{break}}{{end}}{{.}}{{end}}', '{{range .list}}{{if eq . "a"}}{{continue}}{{end}}{{.}}{{end}}',
  '{{break}}', '{{continue}}', '{{range .list}}{{break 1}}{{end}}', '{{range .a}}{{range .list}}{{break}}{{end}}{{.}}{{end}}',
  '{{range $i, $v := .nums}}{{if $i}},{{end}}{{$v}}{{end}}', '{{range $x, $y, $z := .a}}{{end}}', '{{range $x, 1 := .a}}{{end}}',
  '{{range $i, $e := .list}}{{$i}}{{end}}{{$i}}', '{{range .list -}} {{.}} {{- end}}', '{{range $i, $v := .m}}{{$i}}{{end}}',
  '{{$n := 0}}{{range .list}}{{$n = .}}{{end}}{{$n}}',
  // define / template / block
  '{{define "a"}}A{{end}}{{template "a"}}', '{{define "a"}}[{{.}}]{{end}}{{template "a" .s}}', '{{template "nope"}}',
  '{{define "a"}}{{template "a"}}{{end}}{{template "a"}}', '{{block "b" .s}}<{{.}}>{{end}}', '{{define "a"}}x{{end}}',
  '{{define "a"}}{{.k}}{{end}}{{template "a" .m}}{{template "a" .m}}', '{{template .s}}', '{{template "a" 1 2}}',
  '{{define "a"}}{{$}}{{end}}{{template "a" 5}}', '{{define "a"}}{{$x}}{{end}}', '{{if .t}}{{define "a"}}{{end}}{{end}}',
  '{{define "a"}}1{{end}}{{define "a"}}2{{end}}{{template "a"}}', '{{define "a"}}{{end}}{{define "a"}}2{{end}}{{template "a"}}',
  '{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}B{{.}}{{end}}{{template "a" 1}}', '{{define `r`}}raw{{end}}{{template `r`}}',
  '{{define "a"}}', '{{define 1}}{{end}}', '{{block "x"}}{{end}}',
  // parenthesized pipelines and pipes
  '{{(1)}}', '{{(.s)}}', '{{(printf "%d" 1)}}', '{{printf "%s-%s" (print 1) (print 2)}}', '{{(len .list) | printf "%d"}}',
  '{{.s | printf "%s!"}}', '{{.s | printf "%s %s" "a"}}', '{{"a" | print "b"}}', '{{1 | 2}}', '{{.s | .s}}', '{{print | len}}',
  '{{(1 2)}}', '{{(}}', '{{)}}', '{{((1))}}', '{{(.m).k | len}}', '{{. | len}}', '{{.s | len | printf "%d"}}', '{{ | }}',
  '{{.s |}}', '{{| .s}}', '{{(.s) x}}', '{{"x" | not}}', '{{.t | and 1}}', '{{.fa | or 0}}',
  // functions
  '{{and 1 2}}', '{{and 1 0 2}}', '{{and}}', '{{or 0 "" 3}}', '{{or 0 ""}}', '{{or .c .missingkeyerr}}', '{{and .fa .missingkeyerr}}',
  '{{not 1}}', '{{not 0}}', '{{not}}', '{{not 1 2}}', '{{len .s}}', '{{len .u}}', '{{len .a}}', '{{len .m}}', '{{len 3}}',
  '{{len .c}}', '{{len}}', '{{index .a 0}}', '{{index .a 2}}', '{{index .a 3}}', '{{index .a -1}}', '{{index .m "k"}}',
  '{{index .m "zz"}}', '{{index .m "n" "deep"}}', '{{index .s 0}}', '{{index .n 0}}', '{{index .a "x"}}', '{{index .m 1}}',
  '{{index .a 1.0}}', '{{index .c 0}}', '{{index .a}}', '{{index .people 1 "name"}}', '{{slice .s 1}}', '{{slice .s 1 2}}',
  '{{slice .s}}', '{{slice .a 1 3}}', '{{slice .a 2 1}}', '{{slice .s 0 9}}', '{{slice .s 1 2 3}}', '{{slice .a 1 2 3}}',
  '{{slice .n 1}}', '{{print}}', '{{print 1 2}}', '{{print "a" "b"}}', '{{print 1 "a" 2}}', '{{print .a .m}}', '{{print nil}}',
  '{{print .c}}', '{{println}}', '{{println 1 "a" .t}}', '{{html .html}}', '{{html 1 2}}', '{{html}}', '{{js .html}}',
  '{{js "a\\nb\\\\c=d"}}', '{{js .u}}', '{{urlquery .u}}', '{{urlquery "a b&c=d"}}', '{{urlquery 1 "x"}}', '{{call .s}}',
  '{{call .c}}', '{{call}}', '{{printf}}', '{{printf 1}}', '{{printf .n}}', '{{printf "%d" .s}}', '{{printf .s}}',
  // comparisons
  '{{eq 1 1}}', '{{eq 1 2}}', '{{eq 1 2 1}}', '{{eq "a" "a"}}', '{{eq .s "str"}}', '{{eq .n 3.0}}', '{{eq .n 3}}',
  '{{eq 1 1.0}}', '{{eq .t true}}', '{{eq .c .c}}', '{{eq .a .a}}', '{{eq .m .m}}', '{{eq 1}}', '{{eq}}', '{{eq .c 1}}',
  '{{ne 1 2}}', '{{ne "a" "a"}}', '{{ne 1 "a"}}', '{{lt 1 2}}', '{{lt 2 1}}', '{{lt "a" "b"}}', '{{lt "b" "a"}}', '{{lt 1.5 2.5}}',
  '{{lt 1 2.5}}', '{{lt true false}}', '{{lt .a .a}}', '{{lt .c 1}}', '{{le 2 2}}', '{{le 3 2}}', '{{gt 3 2}}', '{{gt 2 3}}',
  '{{ge 2 2}}', '{{ge 1 2}}', '{{gt "b" "a"}}', '{{le .n 3.0}}', '{{lt 1}}', '{{lt 1 2 3}}',
  // printf verbs
  '{{printf "%s" "x"}}', '{{printf "%d" 42}}', '{{printf "%5d|%-5d|%05d" 42 42 42}}', '{{printf "%+d % d" 5 5}}',
  '{{printf "%x %X %o %O %b" 255 255 8 8 5}}', '{{printf "%#x %#o %#b" 255 8 5}}', '{{printf "%c %q %U %#U" 65 65 65 233}}',
  '{{printf "%q" "a\\"b\\n"}}', '{{printf "%+q" "é"}}', '{{printf "%#q" "x"}}', '{{printf "%#q" "a`b"}}', '{{printf "%x" "hi"}}',
  '{{printf "% x" "hi"}}', '{{printf "%#x" "hi"}}', '{{printf "% #X" "hi"}}', '{{printf "%10s|%-10s|" "a" "b"}}',
  '{{printf "%.2s" "héllo"}}', '{{printf "%5.1s|" "abc"}}', '{{printf "%05s" "ab"}}', '{{printf "%t %t" true false}}',
  '{{printf "%v %v %v %v %v" 1 1.5 "s" true nil}}', '{{printf "%v" .a}}', '{{printf "%v" .m}}', '{{printf "%d" .a}}',
  '{{printf "%s" .a}}', '{{printf "%s" .m}}', '{{printf "%#v" .a}}', '{{printf "%#v" .m}}', '{{printf "%#v %#v %#v" "s" 1 1.5}}',
  '{{printf "%+v" .m}}', '{{printf "%T %T %T %T %T %T" 1 1.5 "s" .a .m true}}', '{{printf "%T" nil}}', '{{printf "%v" .c}}',
  '{{printf "%d" .c}}', '{{printf "%f" 3.14159}}', '{{printf "%.2f" 3.14159}}', '{{printf "%8.3f|%-8.2f|" 3.14159 2.5}}',
  '{{printf "%08.3f" -3.14159}}', '{{printf "%+.1f" 2.0}}', '{{printf "%e %E" 1234.5678 0.000123}}', '{{printf "%.3e" 1234.5678}}',
  '{{printf "%g %g %g %g" 1234.5678 0.00001 1e21 100000.0}}', '{{printf "%.3g %.10g %G" 1234.5678 1.0 1e-7}}',
  '{{printf "%.0f %.0f %.0f %.1f %.2f" 0.5 1.5 2.5 0.25 1.005}}', '{{printf "%v %v %v" 1e6 123456.0 1234567.0}}',
  '{{printf "%v %v" 0.000001 0.0001}}', '{{printf "%6.2v|" 3.14159}}', '{{printf "%x %X" 3.5 1.0}}', '{{printf "%d" 3.0}}',
  '{{printf "%s" 65}}', '{{printf "%d" "x"}}', '{{printf "%t" 1}}', '{{printf "%z" 1}}', '{{printf "%d"}}', '{{printf "%d %d" 1}}',
  '{{printf "%d" 1 2}}', '{{printf "x" 1 "a"}}', '{{printf "%!"}}', '{{printf "%"}}', '{{printf "%%"}}', '{{printf "100%%"}}',
  '{{printf "%[2]d %[1]d" 1 2}}', '{{printf "%[3]d" 1 2}}', '{{printf "%[x]d" 1}}', '{{printf "%*d|%-*d|" 5 1 5 2}}',
  '{{printf "%.*f" 2 3.14159}}', '{{printf "%*d" "x" 1}}', '{{printf "%d %s" 1}}', '{{printf "%-+5d|" 3}}', '{{printf "%.3d" 7}}',
  '{{printf "%.0d|" 0}}', '{{printf "%6.3d|" -7}}', '{{printf "%x" -255}}', '{{printf "%c" 128512}}', '{{printf "%q" 10}}',
  '{{printf "%v" .people}}', '{{printf "%s" .u}}', '{{printf "%-8q|" "a"}}', '{{printf "%08q|" "a"}}', '{{printf "%3c|" 65}}',
  '{{printf "%v" .big}}', '{{printf "%v" .neg}}', '{{printf "%.1f" .neg}}', '{{printf "%5t|" true}}', '{{printf "%s %v" .t .t}}',
  // original-module style
  '{"Parameters": [{{ .Message }}]}', '{"Env": ["PROMPT={{ .Prompt }}"]}', '{{ if .Seed }}{{ .Seed }}{{ else }}"42"{{ end }}',
  '{"a": {{.Message}}, "b": {{if .Seed}}{{.Seed}}{{else}}""{{end}}}', '{{- /* header */ -}}\n{\n  "x": {{ .Prompt }}\n}\n',
  // lexer errors
  '{{.s #}}', '{{.s ~}}', '{{.s:}}', '{{$x :}}', '{{.s=1}}', '{{$x:=1}}{{$x}}', '{{.s,}}', '{{.s é}}', '{{é}}', '{{.é}}',
  '{{.s\n}}', '{{\n.s\n}}', '\n\n{{.s', '\n{{if .t}}\n', '{{if .t}}\n{{else}}\n{{.s}}', '{{.s | (}}', '{{$x.}}', '{{$1}}',
  '{{range}}{{end}}', '{{template}}', '{{template "a" }}', '{{with .s}}{{else}}{{.}}{{end}}', '{{if true}}{{break}}{{end}}',
];

// A matrix of verbs and values, each printed by printf.
const verbs = ['%v', '%s', '%d', '%q', '%x', '%t', '%5v', '%-5v|', '%05v', '%.1v', '%+v', '%#v', '%T', '%e', '%f', '%g'];
const values = ['1', '-1', '1.5', '"s"', 'true', 'nil', '.a', '.m', '.c', '.f', '.big', '.u', "'x'"];
const matrix = verbs.flatMap((verb) => values.map((value) => `{{printf "${verb}" ${value}}}`));

export const corpus: string[] = [...hand, ...matrix];
