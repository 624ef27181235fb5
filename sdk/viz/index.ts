/**
 * sdk/viz: Plotly figures as plain specs, inline display in tslab, headless PNG/HTML export, tables.
 * Loads nothing heavy at import: plotly.js is read on first display/export, tslab on first show(),
 * playwright-core when a browser is launched.
 */
export type { PlotlyTrace, PlotlyLayout, PlotlyFrame, Figure, FigureLike, ChartOptions, ChartSeries, ChartSample, ChartMatrix } from './figure';
export { COLORWAY, toPlain, barChart, lineChart, boxPlot, histogramChart, heatmapChart, figureProblems, assertValidFigure } from './figure';
export type { SliceVolume, OverlayStyle, SliceViewerOptions } from './slice_viewer';
export { sliceViewer, CLASS_COLORS } from './slice_viewer';
export type { TrainingCurveEntry, DicePerClassRow } from './training_curves';
export { trainingCurves, dicePerClass } from './training_curves';
export type { ArqueroTableLike, TableHTMLOptions } from './table';
export { tableHTML } from './table';
export type { DisplayLike, ShowOptions } from './display';
export { show, showTable, showPNG, loadPlotly } from './display';
export type { FigureRenderOptions } from './render';
export { FigureRenderer, toPNG, toHTML, renderPNG, closeRenderer, validateInBrowser } from './render';
export type { UpdatableDisplay, NotebookProgressOptions } from './progress_display';
export { notebookProgressSink, progressRowsHTML } from './progress_display';
export type { ReportBlock, ReportSection, ReportOptions } from './report';
export { reportHTML, writeReport } from './report';
export type { OverlayPlane, OverlayFigureOptions, OverlayCounts } from './overlay';
export { overlayFigure, overlayOutcomes, OUTCOME, OUTCOME_COLORS, OUTCOME_NAMES } from './overlay';
export type { UNetDiagramInput, UNetDiagramOptions } from './unet_diagram';
export { unetDiagram } from './unet_diagram';
export type { GridImage, ImageGridRow, ImageGridOptions } from './image_grid';
export { imageGrid } from './image_grid';
export type { GraphNode, GraphFigureOptions } from './graph_figure';
export { graphFigure, STATE_COLORS, LIVE_STATE_META } from './graph_figure';
