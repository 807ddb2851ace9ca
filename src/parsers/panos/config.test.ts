import { ConfigError } from '../../errors';
import { parseTzOffset, resolvePanosOptions } from './config';
import { panosParser } from './index';

describe('parsers/panos > config', () => {
  it('declares the factory type and formats, auto first', () => {
    expect(panosParser.type).toBe('panos');
    expect(panosParser.formats).toEqual(['auto', 'csv', 'cef']);
  });

  it('defaults to UTC and auto', () => {
    expect(resolvePanosOptions()).toEqual({ format: 'auto', tzName: 'UTC', tzOffsetMs: 0 });
  });

  it('parses zone offsets', () => {
    expect(parseTzOffset('+09:30')).toBe(34_200_000);
    expect(parseTzOffset('-05:00')).toBe(-18_000_000);
    expect(parseTzOffset('+0530')).toBe(19_800_000);
    expect(parseTzOffset('Z')).toBe(0);
    expect(parseTzOffset('local')).toBeUndefined();
    expect(parseTzOffset('+15:00')).toBeUndefined();
    expect(resolvePanosOptions({ tzOffset: '+0930' }).tzName).toBe('+09:30');
  });

  it('throws a ConfigError naming the key, the value and the fix', () => {
    expect(() => panosParser.create({ tzOffset: 'Europe/Paris' })).toThrow(ConfigError);
    expect(() => panosParser.create({ tzOffset: 'Europe/Paris' })).toThrow(/panos\.tzOffset: "Europe\/Paris".*\+09:30/);
    expect(() => panosParser.create({ format: 'json' } as unknown as Parameters<typeof panosParser.create>[0])).toThrow(/panos\.format: "json".*auto, csv, cef/);
  });
});
