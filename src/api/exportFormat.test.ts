import { csvCell, csvHeader } from './exportFormat';

describe('api > export formats', () => {
  it.each<[unknown, string]>([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tTAB', "'\tTAB"],
    ['=HYPERLINK("x","y")', `"'=HYPERLINK(""x"",""y"")"`],
    [200, '200'],
    [undefined, ''],
    [null, ''],
    [['envoy', 'otlp'], 'envoy;otlp'],
    ['ünïcode', 'ünïcode'],
  ])('writes %j as %j', (v, out) => {
    expect(csvCell(v)).toBe(out);
  });

  it('names the twelve columns in the header row, CRLF-terminated', () => {
    expect(csvHeader()).toBe('@timestamp,record_id,user.id,verdict,source.ip,http.request.method,url.path,http.response.status_code,event.outcome,service.name,trace.id,sources\r\n');
  });
});
