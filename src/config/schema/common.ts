import { z } from 'zod';

/** Shared building blocks for the config schema. */
export const positiveInt = z.number().int('must be an integer').positive('must be a positive integer');
export const nonNegativeInt = z.number().int('must be an integer').min(0, 'must be zero or more');
export const port = z.number().int('must be an integer').min(0).max(65535, 'must be a TCP port (0-65535)');
export const host = z.string().min(1, 'must be a host name or IP address');
