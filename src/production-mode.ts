// Imported first by main.ts: it must run before any module imports Elysia (see defaultToProductionMode).
import { defaultToProductionMode } from './config'

defaultToProductionMode()
