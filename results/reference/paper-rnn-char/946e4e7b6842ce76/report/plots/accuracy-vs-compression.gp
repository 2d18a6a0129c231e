# blkrew plot 'accuracy-vs-compression', generated from the run's records (deterministic).
# Data: accuracy-vs-compression.csv (first row: column names). Draw it here with: gnuplot accuracy-vs-compression.gp
if (!exists("outfile")) outfile = 'accuracy-vs-compression.svg'
set encoding utf8
set terminal svg size 800,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Bits per character vs compression per method'
set grid
set key outside right top
set xlabel 'compression rate (×, log scale)'
set ylabel 'test bits per character'
set logscale x 2
set xrange [2.85714:44.8]
set offsets 0, 0, graph 0.05, graph 0.05
plot 'accuracy-vs-compression.csv' skip 1 every ::0::3 using 5:7 with linespoints lw 2 pt 7 lc 1 title 'blk-rew', \
     '' skip 1 every ::0::3 using 5:7:8 with yerrorbars pt -1 lc 1 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::4::7 using 5:7 with linespoints lw 2 pt 7 lc 2 title 'group-lasso', \
     '' skip 1 every ::4::7 using 5:7:8 with yerrorbars pt -1 lc 2 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::8::11 using 5:7 with linespoints lw 2 pt 7 lc 3 title 'unstructured', \
     '' skip 1 every ::8::11 using 5:7:8 with yerrorbars pt -1 lc 3 notitle, \
     1.9591 with lines dt 2 lw 2 lc rgb '#444444' title 'dense (mean)'
