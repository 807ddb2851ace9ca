import { splitCsv, syslogBodyStart } from './csv';

const body = '1,2024/06/14 14:30:18,015451000018305,TRAFFIC,end';
const strip = (s: string): string => s.slice(syslogBodyStart(s));

describe('parsers/panos > csv splitter', () => {
  it('splits plain rows and keeps empty and trailing fields', () => {
    expect(splitCsv('a,,b,')).toEqual(['a', '', 'b', '']);
  });

  it('keeps commas inside quoted fields and undoubles quotes', () => {
    expect(splitCsv('1,"a, b",c')).toEqual(['1', 'a, b', 'c']);
    expect(splitCsv('"say ""hi"", ok",x')).toEqual(['say "hi", ok', 'x']);
    expect(splitCsv('x,""')).toEqual(['x', '']);
    expect(splitCsv('x," lead,trail "')).toEqual(['x', ' lead,trail ']);
  });

  it('treats a quote inside an unquoted field as text', () => {
    expect(splitCsv('a"b,c')).toEqual(['a"b', 'c']);
  });

  it('runs an unterminated quote to the end of the row', () => {
    expect(splitCsv('a,"b,c')).toEqual(['a', 'b,c']);
  });

  it('protects commas inside balanced braces only when asked', () => {
    expect(splitCsv('a,{x,y},b', true)).toEqual(['a', '{x,y}', 'b']);
    expect(splitCsv('a,{x,y},b')).toEqual(['a', '{x', 'y}', 'b']);
    expect(splitCsv('a,{x,y,b', true)).toEqual(['a', '{x', 'y', 'b']);
    expect(splitCsv('a,"{q,}",{x,y}', true)).toEqual(['a', '{q,}', '{x,y}']);
  });
});

describe('parsers/panos > syslog header', () => {
  it.each([
    ['no header', body],
    ['BSD with hostname', `Jun 14 14:30:18 fw-01.example.com ${body}`],
    ['BSD without hostname', `Jun 14 14:30:18 ${body}`],
    ['BSD with padded day', `Jun  4 14:30:18 fw-01 ${body}`],
    ['BSD with PRI', `<14>Jun 14 14:30:18 fw-01 ${body}`],
    ['BSD with year', `Jun 14 14:30:18 2024 fw-01 ${body}`],
    ['RFC 5424 nil SD', `<14>1 2024-06-14T14:30:18.123+02:00 fw-01 - - - - ${body}`],
    ['RFC 5424 with SD', `<165>1 2024-06-14T14:30:18Z fw-01 panos 77 TRAFFIC [ex@32473 a="1" b="x\\]y"][x@1 c="2"] ${body}`],
    ['RFC 3339 BSD-style', `2024-06-14T14:30:18+00:00 fw-01 ${body}`],
  ])('finds the body after %s', (_name, line) => {
    expect(strip(line)).toBe(body);
  });

  it('finds a CEF body after a BSD header with hostname', () => {
    expect(strip('<14>Jul 31 12:46:24 fw-01 CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|src=1.1.1.1')).toMatch(/^CEF:0\|/);
    expect(strip('Jul 31 12:46:24 CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|src=1.1.1.1')).toMatch(/^CEF:0\|/);
  });

  it('leaves unrecognised text alone', () => {
    expect(syslogBodyStart('hello world')).toBe(0);
    expect(syslogBodyStart('<abc>x')).toBe(0);
  });
});
